import { formatDuration, parseDuration } from "../units/duration.ts";
import { parseCronExpression } from "./cron-expression.ts";
import type { CronModel } from "./cron-model.ts";
import { parseEvery, parseRate } from "./rate.ts";
import type { ScheduleSpec } from "./spec.ts";
import { describeValue, timeZoneProblem } from "./time-zone.ts";

/**
 * When a schedule fires: exactly one of `cron`, `rate` and `every`, plus the time zone
 * cron is read in. See docs/schedules.md for the exact rules.
 */
export interface ScheduleExpression {
  /**
   * Wall-clock times in `timezone`: `min hour dom month dow` (Sunday 0 or 7), the same with
   * seconds first, or AWS's `cron(min hour dom month dow year)` (Sunday 1, one day field `?`).
   * @example "0 2 * * *"
   * @example "cron(0 9 ? * MON-FRI *)"
   */
  cron?: string;
  /**
   * AWS's `rate(value unit)`, unit minute(s), hour(s) or day(s). Fires at whole multiples
   * of the interval since the Unix epoch, whatever the time zone.
   * @example "rate(5 minutes)"
   */
  rate?: string;
  /**
   * A readable interval of at least one second. Fires at whole multiples of it since the
   * Unix epoch, whatever the time zone.
   * @example "5m"
   */
  every?: string;
  /**
   * IANA time zone `cron` is read in; rates and `every` ignore it.
   * @default "UTC"
   * @example "Europe/Berlin"
   */
  timezone?: string;
}

/** Which prop a problem is about; `""` for "exactly one of cron, rate, every" and a value that is not an object. */
export type ScheduleField = "cron" | "rate" | "every" | "timezone" | "";

/** One thing wrong with a schedule expression: what was expected, what was found, how to fix it. */
export interface ScheduleProblem {
  field: ScheduleField;
  message: string;
}

/** A valid expression, in the form the evaluator uses. */
export type ParsedSchedule =
  | { kind: "cron"; model: CronModel; timezone: string }
  | { kind: "interval"; intervalMs: number };

export type ScheduleParse = { ok: true; schedule: ParsedSchedule } | { ok: false; problems: ScheduleProblem[] };

const kinds = ["cron", "rate", "every"] as const;

const examples: Record<(typeof kinds)[number], string> = {
  cron: 'Example: "0 2 * * *"',
  rate: 'Example: "rate(5 minutes)"',
  every: 'Example: "5m"',
};

/**
 * Every problem with a schedule expression, empty when it is valid. Takes `unknown` so it
 * can check untrusted input (app props, a config file).
 */
export function scheduleProblems(expr: unknown): ScheduleProblem[] {
  const parsed = parseSchedule(expr);
  return parsed.ok ? [] : parsed.problems;
}

/** Validates and reads an expression; the one place its rules live. */
export function parseSchedule(expr: unknown): ScheduleParse {
  if (typeof expr !== "object" || expr === null || Array.isArray(expr)) {
    const message = `expected an object with one of cron, rate or every; found ${describeValue(expr)}. Example: { cron: "0 2 * * *" }`;
    return { ok: false, problems: [{ field: "", message }] };
  }
  const record = expr as Record<string, unknown>;
  const problems: ScheduleProblem[] = [];
  const present = kinds.filter((kind) => record[kind] !== undefined);
  if (present.length !== 1) {
    const found = present.length === 0 ? "none" : present.join(" and ");
    const fix = present.length === 0 ? 'Example: { cron: "0 2 * * *" } or { every: "5m" }' : "Keep one of them";
    problems.push({ field: "", message: `expected exactly one of cron, rate or every; found ${found}. ${fix}` });
  }

  let schedule: ParsedSchedule | undefined;
  for (const kind of present) {
    const value = record[kind];
    if (typeof value !== "string") {
      problems.push({ field: kind, message: `expected a string; found ${describeValue(value)}. ${examples[kind]}` });
      continue;
    }
    if (kind === "cron") {
      const cron = parseCronExpression(value);
      if (cron.ok) schedule = { kind: "cron", model: cron.model, timezone: "UTC" };
      else for (const message of cron.problems) problems.push({ field: "cron", message });
    } else {
      const interval = kind === "rate" ? parseRate(value) : parseEvery(value);
      if (interval.ok) schedule = { kind: "interval", intervalMs: interval.intervalMs };
      else problems.push({ field: kind, message: interval.problem });
    }
  }

  const timezone = record.timezone;
  if (timezone !== undefined) {
    const problem = timeZoneProblem(timezone);
    if (problem !== undefined) problems.push({ field: "timezone", message: problem });
  }

  if (problems.length > 0 || schedule === undefined) return { ok: false, problems };
  if (schedule.kind === "cron" && typeof timezone === "string") schedule = { ...schedule, timezone };
  return { ok: true, schedule };
}

/** Short text for tables and logs: `cron "0 2 * * *" in Europe/Berlin`, `rate(5 minutes)`, `every 5m`. */
export function describeSchedule(expr: ScheduleExpression): string {
  if (expr.cron !== undefined) return `cron "${expr.cron.trim()}" in ${expr.timezone ?? "UTC"}`;
  if (expr.rate !== undefined) return expr.rate.trim();
  if (expr.every !== undefined) {
    const ms = parseDuration(expr.every);
    return `every ${ms === undefined ? expr.every : formatDuration(ms)}`;
  }
  return "no schedule";
}

/** The expression a normalised spec stands for, in the form `nextRuns` takes (kept apart from spec.ts, which needs zod). */
export function scheduleExpressionOf(spec: ScheduleSpec): ScheduleExpression {
  const expression: ScheduleExpression = { timezone: spec.timezone };
  if (spec.cron !== undefined) expression.cron = spec.cron;
  if (spec.rate !== undefined) expression.rate = spec.rate;
  if (spec.every !== undefined) expression.every = `${spec.every}ms`;
  return expression;
}
