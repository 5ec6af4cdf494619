import { type FieldProblem, type FieldRule, parseField } from "./cron-field.ts";
import type { DayOfMonthRule, DayOfWeekRule } from "./cron-model.ts";

/** `unix`: 5 or 6 fields, Sunday is 0 (or 7). `aws`: `cron(...)`, Sunday is 1 and Saturday 7. */
export type CronDialect = "unix" | "aws";

type DayParse<Rule> = { ok: true; rule: Rule } | { ok: false; problem: FieldProblem };

const dayOfMonthRule: FieldRule = { label: "day-of-month", min: 1, max: 31, accepts: "1-31", steps: true };

const weekdayRules: Record<CronDialect, FieldRule> = {
  unix: {
    label: "day-of-week",
    min: 0,
    max: 7,
    accepts: "0-7 where 0 and 7 are Sunday, or SUN-SAT",
    names: { SUN: 0, MON: 1, TUE: 2, WED: 3, THU: 4, FRI: 5, SAT: 6 },
    rangeEndNames: { SUN: 7 },
    steps: true,
  },
  aws: {
    label: "day-of-week",
    min: 1,
    max: 7,
    accepts: "1-7 where 1 is Sunday and 7 Saturday, or SUN-SAT",
    names: { SUN: 1, MON: 2, TUE: 3, WED: 4, THU: 5, FRI: 6, SAT: 7 },
    // The AWS table lists no `/` for day-of-week.
    steps: false,
  },
};

/** `*`, `?`, a list of days, `L`, `LW` or `15W`. The same in both dialects. */
export function parseDayOfMonth(text: string): DayParse<DayOfMonthRule> {
  const upper = text.toUpperCase();
  if (upper === "*" || upper === "?") return { ok: true, rule: { kind: "any" } };
  if (upper === "L") return { ok: true, rule: { kind: "last" } };
  if (upper === "LW") return { ok: true, rule: { kind: "last-weekday" } };
  const nearest = /^(\d+)W$/.exec(upper);
  if (nearest) {
    const day = Number(nearest[1]);
    if (day >= 1 && day <= 31) return { ok: true, rule: { kind: "nearest-weekday", day } };
    return invalid(`a day from 1 to 31 before W`, text, "Write the day as in 15W.");
  }
  if (/[LW]/.test(upper)) {
    return invalid(
      "L, LW or a day with W (such as 15W) on its own",
      text,
      "L and W cannot be combined with other days in one field.",
    );
  }
  const days = parseField(text, dayOfMonthRule);
  return days.ok ? { ok: true, rule: { kind: "days", days: days.values } } : days;
}

/** `*`, `?`, a list of weekdays, `5L` (last Friday, Unix numbering) or `MON#2`; AWS also reads `L` alone as Saturday. */
export function parseDayOfWeek(text: string, dialect: CronDialect): DayParse<DayOfWeekRule> {
  const rule = weekdayRules[dialect];
  const upper = text.toUpperCase();
  if (upper === "*" || upper === "?") return { ok: true, rule: { kind: "any" } };
  if (upper === "L") {
    // AWS: "L in day-of-week is the last day of the week", which is Saturday (Quartz reads it so too).
    if (dialect === "aws") return { ok: true, rule: { kind: "weekdays", weekdays: [6] } };
    return invalid("a weekday before L, such as 5L for the last Friday", text, "Write 6 or SAT for every Saturday.");
  }
  const last = /^([A-Z0-9]+)L$/.exec(upper);
  if (last) {
    const weekday = readWeekday(last[1] ?? "", dialect);
    if (weekday === undefined)
      return invalid(`a single weekday (${rule.accepts}) before L`, text, "Write it as in FRIL.");
    return { ok: true, rule: { kind: "last", weekday } };
  }
  const nth = /^([A-Z0-9]+)#(\d+)$/.exec(upper);
  if (nth) {
    const weekday = readWeekday(nth[1] ?? "", dialect);
    const count = Number(nth[2]);
    if (weekday === undefined)
      return invalid(`a single weekday (${rule.accepts}) before #`, text, "Write it as in MON#2.");
    if (count < 1 || count > 5)
      return invalid("an occurrence from 1 to 5 after #", text, "MON#2 is the second Monday.");
    return { ok: true, rule: { kind: "nth", weekday, nth: count } };
  }
  if (/[L#]/.test(upper)) {
    return invalid(
      "a weekday with L or # on its own, such as FRIL or MON#2",
      text,
      "L and # cannot be combined with other days in one field (AWS allows one # expression).",
    );
  }
  const weekdays = parseField(text, rule);
  if (!weekdays.ok) return weekdays;
  return { ok: true, rule: { kind: "weekdays", weekdays: normalizeWeekdays(weekdays.values, dialect) } };
}

function readWeekday(text: string, dialect: CronDialect): number | undefined {
  if (text.includes(",") || text.includes("-")) return undefined;
  const parsed = parseField(text, { ...weekdayRules[dialect], steps: false });
  const value = parsed.ok && parsed.values.length === 1 ? parsed.values[0] : undefined;
  return value === undefined ? undefined : normalizeWeekdays([value], dialect)[0];
}

/** To 0-6 from Sunday: Unix 7 is Sunday again, AWS counts from 1. */
function normalizeWeekdays(values: readonly number[], dialect: CronDialect): number[] {
  const shifted = values.map((value) => (dialect === "aws" ? value - 1 : value % 7));
  return [...new Set(shifted)].sort((a, b) => a - b);
}

function invalid(expected: string, found: string, fix: string): { ok: false; problem: FieldProblem } {
  return { ok: false, problem: { expected, found: `"${found}"`, fix } };
}
