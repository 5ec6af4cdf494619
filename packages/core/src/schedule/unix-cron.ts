import { hourRule, minuteRule, monthRule, secondRule } from "./cron-field.ts";
import type { CronParse } from "./cron-model.ts";
import { cronReader } from "./cron-reader.ts";

/**
 * `min hour dom month dow`, or with seconds first. Sunday is 0 or 7. When both day fields
 * are restricted a day matching either runs (POSIX); a day field counts as unrestricted
 * only when it is `*` or `?`.
 */
export function parseUnixCron(expression: string, fields: readonly string[]): CronParse {
  const [secondText = "0", minuteText = "", hourText = "", domText = "", monthText = "", dowText = ""] =
    fields.length === 6 ? fields : ["0", ...fields];
  const read = cronReader(expression);
  const seconds = read.numeric(secondText, secondRule);
  const minutes = read.numeric(minuteText, minuteRule);
  const hours = read.numeric(hourText, hourRule);
  const dayOfMonth = read.dayOfMonth(domText);
  const months = read.numeric(monthText, monthRule);
  const dayOfWeek = read.dayOfWeek(dowText, "unix");
  const { problems } = read;

  if (problems.length > 0) return { ok: false, problems };
  const unrestricted = (text: string) => text === "*" || text === "?";
  return {
    ok: true,
    model: {
      seconds,
      minutes,
      hours,
      dayOfMonth,
      months,
      dayOfWeek,
      years: undefined,
      days: unrestricted(domText) || unrestricted(dowText) ? "both" : "either",
    },
  };
}
