import { NimbusError } from "../errors/nimbus-error.ts";
import { createCronMatcher, type WallClockMatcher } from "./cron-matcher.ts";
import { parseSchedule, type ScheduleExpression } from "./expression.ts";
import { ScheduleError } from "./schedule-error.ts";
import { earliestWallTimeAfter, offsetAt, resolveWallTime } from "./zoned-time.ts";

/** A validated expression, ready to answer "when next?" many times. */
export interface CompiledSchedule {
  /** The first firing instant strictly after `after`, or `null` when the schedule never fires again. */
  next(after: Date): Date | null;
}

/**
 * Validates an expression once and returns its evaluator.
 * @throws ScheduleError (a NimbusError, code `NIMBUS_SCHEDULE_INVALID`) listing every problem.
 */
export function compileSchedule(expr: ScheduleExpression): CompiledSchedule {
  const parsed = parseSchedule(expr);
  if (!parsed.ok) throw new ScheduleError(parsed.problems);
  const schedule = parsed.schedule;
  if (schedule.kind === "interval") {
    const interval = schedule.intervalMs;
    // Whole multiples since the epoch, so that every target and every restart agree.
    return { next: (after) => new Date((Math.floor(checkDate(after) / interval) + 1) * interval) };
  }
  const matcher = createCronMatcher(schedule.model);
  const { timezone } = schedule;
  return {
    next: (after) => {
      const instant = nextCronInstant(matcher, timezone, checkDate(after));
      return instant === null ? null : new Date(instant);
    },
  };
}

/**
 * The next `count` firing instants strictly after `from`; fewer when the schedule ends
 * (a cron year field). The one function the emulator, the deployed scheduler and the CLI
 * share, so they agree to the millisecond.
 * @throws ScheduleError (a NimbusError, code `NIMBUS_SCHEDULE_INVALID`) listing every problem.
 */
export function nextRuns(schedule: ScheduleExpression, options: { from: Date; count: number }): Date[] {
  const { from, count } = options;
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new NimbusError(
      "NIMBUS_SCHEDULE_COUNT_INVALID",
      `nextRuns needs a whole count of 0 or more; found ${count}.`,
    );
  }
  const compiled = compileSchedule(schedule);
  const runs: Date[] = [];
  let cursor: Date | null = from;
  while (runs.length < count && cursor !== null) {
    cursor = compiled.next(cursor);
    if (cursor !== null) runs.push(cursor);
  }
  return runs;
}

/**
 * The first instant after `after` at which a matching wall-clock time fires, by our DST
 * rule: a skipped wall time fires shifted forward by the gap, a repeated one fires at its
 * first occurrence, and wall times that land on the same instant fire once.
 */
function nextCronInstant(matcher: WallClockMatcher, timezone: string, after: number): number | null {
  let from = earliestWallTimeAfter(after, timezone);
  for (;;) {
    const wall = matcher.after(from);
    if (wall === null) return null;
    const resolved = resolveWallTime(wall, timezone);
    if (resolved.instant <= after) {
      // Already passed in real time (the second pass of a repeated hour, or just after a
      // gap). A wall time w passed if w - offset <= after for the offset that applies to
      // it; with the smallest offset in play, every wall time up to after + that offset
      // has passed, whichever applies (New York's 02:00 EST, right after the repeated
      // 01:00-01:59, has not). Never behind `wall`, so the search moves on.
      const lowest = Math.min(
        offsetAt(resolved.instant, timezone),
        offsetAt(after, timezone),
        offsetAt(after + 86_400_000, timezone),
      );
      from = Math.max(wall, after + lowest);
      continue;
    }
    if (resolved.kind !== "skipped") return resolved.instant;
    // A skipped wall time fires up to a gap late, so a wall time just after the gap can
    // fire before it (a 30-minute gap: 02:20 fires at 02:50, 02:40 at 02:40).
    const afterGap = matcher.after(Math.max(after, resolved.transition - 1) + resolved.offsetAfter);
    if (afterGap !== null) {
      const other = resolveWallTime(afterGap, timezone).instant;
      if (other > after && other < resolved.instant) return other;
    }
    return resolved.instant;
  }
}

function checkDate(date: Date): number {
  const time = date instanceof Date ? date.getTime() : Number.NaN;
  if (Number.isNaN(time)) {
    throw new NimbusError(
      "NIMBUS_SCHEDULE_DATE_INVALID",
      `expected a valid Date to count from; found ${String(date)}.`,
    );
  }
  return time;
}
