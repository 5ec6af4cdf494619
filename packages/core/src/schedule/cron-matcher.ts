import { Cron } from "croner";
import type { CronModel, DayOfMonthRule, DayOfWeekRule } from "./cron-model.ts";

/** Finds matching wall-clock times, with wall-clock times written as if they were UTC milliseconds. */
export interface WallClockMatcher {
  /** The first matching wall-clock time strictly after `wallMs`, or `null` when there is none. */
  after(wallMs: number): number | null;
}

/**
 * croner does the calendar search (L, W, #, leap years), but only in UTC: its own time-zone
 * handling moves a skipped time to the start of the gap and runs interval jobs twice in a
 * repeated hour, neither of which is our rule. Mapping wall-clock times to instants is done
 * by `next-runs.ts` instead.
 */
export function createCronMatcher(model: CronModel): WallClockMatcher {
  const cron = new Cron(toCronerPattern(model), {
    utcOffset: 0,
    mode: "7-part",
    domAndDow: model.days === "both",
    paused: true,
  });
  return { after: (wallMs) => cron.nextRun(new Date(wallMs))?.getTime() ?? null };
}

/**
 * A 7-part croner pattern (second to year) with every value spelled out, so that croner's
 * own readings of `?`, steps and weekday numbers never come into play.
 */
export function toCronerPattern(model: CronModel): string {
  const year = model.years === undefined ? "*" : list(model.years);
  return [
    list(model.seconds),
    list(model.minutes),
    list(model.hours),
    dayOfMonthPart(model.dayOfMonth),
    list(model.months),
    dayOfWeekPart(model.dayOfWeek),
    year,
  ].join(" ");
}

function list(values: readonly number[]): string {
  return values.join(",");
}

function dayOfMonthPart(rule: DayOfMonthRule): string {
  switch (rule.kind) {
    case "any":
      return "*";
    case "days":
      return list(rule.days);
    case "last":
      return "L";
    case "last-weekday":
      return "LW";
    case "nearest-weekday":
      return `${rule.day}W`;
  }
}

function dayOfWeekPart(rule: DayOfWeekRule): string {
  switch (rule.kind) {
    case "any":
      return "*";
    case "weekdays":
      return list(rule.weekdays);
    case "last":
      return `${rule.weekday}#L`;
    case "nth":
      return `${rule.weekday}#${rule.nth}`;
  }
}
