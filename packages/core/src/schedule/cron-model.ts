/**
 * One vocabulary for a parsed cron expression, whichever form the author wrote it in, so
 * that the AWS form and the Unix forms are evaluated by the same code. Days of the week
 * are 0-6 from Sunday here, whatever the source numbering was.
 */
export interface CronModel {
  seconds: readonly number[];
  minutes: readonly number[];
  hours: readonly number[];
  dayOfMonth: DayOfMonthRule;
  /** 1-12. */
  months: readonly number[];
  dayOfWeek: DayOfWeekRule;
  /** `undefined` matches every year. */
  years: readonly number[] | undefined;
  /**
   * `both`: a day must match both day fields (one of them is unrestricted, so in effect the
   * other decides). `either`: both are restricted and a day matching one of them is enough,
   * as POSIX cron reads `0 9 1 * MON`.
   */
  days: "both" | "either";
}

export type DayOfMonthRule =
  | { kind: "any" }
  | { kind: "days"; days: readonly number[] }
  /** `L`: the last day of the month. */
  | { kind: "last" }
  /** `LW`: the last weekday (Monday to Friday) of the month. */
  | { kind: "last-weekday" }
  /** `15W`: the weekday nearest the given day, without leaving the month. */
  | { kind: "nearest-weekday"; day: number };

export type DayOfWeekRule =
  | { kind: "any" }
  | { kind: "weekdays"; weekdays: readonly number[] }
  /** `5L` (Unix) or `6L` (AWS): the last such weekday of the month. */
  | { kind: "last"; weekday: number }
  /** `MON#2`: the nth such weekday of the month, 1-5. */
  | { kind: "nth"; weekday: number; nth: number };

/** Parsing a cron text gives a model or every problem found, as sentences. */
export type CronParse = { ok: true; model: CronModel } | { ok: false; problems: string[] };
