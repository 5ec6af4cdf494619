/**
 * Wall-clock time in an IANA time zone, from `Intl` alone (core takes no date library).
 * A wall-clock time is written as the UTC milliseconds of the same calendar fields, so
 * 02:30 on 2026-03-29 is `Date.UTC(2026, 2, 29, 2, 30)` whatever the zone.
 */

const dayMs = 86_400_000;

const fieldFormatters = new Map<string, Intl.DateTimeFormat>();

function fieldFormatter(timezone: string): Intl.DateTimeFormat {
  let formatter = fieldFormatters.get(timezone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat("en-US", {
      timeZone: timezone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    fieldFormatters.set(timezone, formatter);
  }
  return formatter;
}

/** The calendar fields of an instant in a zone, as numbers (month 1-12). */
export function zonedFields(instantMs: number, timezone: string) {
  const fields = { year: 0, month: 0, day: 0, hour: 0, minute: 0, second: 0 };
  for (const part of fieldFormatter(timezone).formatToParts(instantMs)) {
    if (part.type in fields) fields[part.type as keyof typeof fields] = Number(part.value);
  }
  return fields;
}

/** The zone's offset from UTC at an instant, in milliseconds (+02:00 is 7 200 000). */
export function offsetAt(instantMs: number, timezone: string): number {
  if (timezone === "UTC") return 0;
  const second = Math.floor(instantMs / 1000) * 1000;
  const f = zonedFields(second, timezone);
  const wall = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not read years 0-99 as 1900-1999.
  wall.setUTCFullYear(f.year, f.month - 1, f.day);
  wall.setUTCHours(f.hour, f.minute, f.second, 0);
  return wall.getTime() - second;
}

/** How one wall-clock time maps to an instant. */
export type ResolvedWallTime =
  | { kind: "single"; instant: number }
  /** Occurs twice (fall back); `instant` is the first occurrence. */
  | { kind: "repeated"; instant: number }
  /**
   * Skipped (spring forward); `instant` is the wall time read with the offset before the
   * gap, i.e. shifted forward by the gap: 02:30 in a 02:00→03:00 gap is 03:30.
   */
  | { kind: "skipped"; instant: number; transition: number; offsetAfter: number };

/**
 * The instant a wall-clock time stands for, by our DST rule (what Temporal calls
 * "compatible"). Assumes at most one offset change within a day either side of it, which
 * real zones keep to (transitions are months apart).
 */
export function resolveWallTime(wallMs: number, timezone: string): ResolvedWallTime {
  const before = offsetAt(wallMs - dayMs, timezone);
  const after = offsetAt(wallMs + dayMs, timezone);
  if (before === after) return { kind: "single", instant: wallMs - before };
  const early = wallMs - before;
  const late = wallMs - after;
  const earlyValid = offsetAt(early, timezone) === before;
  const lateValid = offsetAt(late, timezone) === after;
  if (earlyValid && lateValid) return { kind: "repeated", instant: Math.min(early, late) };
  if (earlyValid) return { kind: "single", instant: early };
  if (lateValid) return { kind: "single", instant: late };
  return { kind: "skipped", instant: early, transition: findTransition(late, early, timezone), offsetAfter: after };
}

/** The first whole second at or after `from` whose offset differs from the offset at `from`. */
function findTransition(from: number, to: number, timezone: string): number {
  const offset = offsetAt(from, timezone);
  let low = Math.floor(from / 1000);
  let high = Math.ceil(to / 1000);
  while (high - low > 1) {
    const middle = Math.floor((low + high) / 2);
    if (offsetAt(middle * 1000, timezone) === offset) low = middle;
    else high = middle;
  }
  return high * 1000;
}

/**
 * A wall-clock time at or before every wall-clock time that can fire after `instantMs`. It
 * is the wall time of the instant, except just after a spring-forward, where skipped wall
 * times (read with the earlier, smaller offset) still fire after it.
 */
export function earliestWallTimeAfter(instantMs: number, timezone: string): number {
  return instantMs + Math.min(offsetAt(instantMs - dayMs, timezone), offsetAt(instantMs, timezone));
}
