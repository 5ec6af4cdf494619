import { parseDayOfMonth, parseDayOfWeek } from "./cron-days.ts";
import {
  describeFieldProblem,
  type FieldParse,
  type FieldRule,
  hourRule,
  minuteRule,
  monthRule,
  parseField,
  secondRule,
} from "./cron-field.ts";
import type { CronParse, DayOfMonthRule, DayOfWeekRule } from "./cron-model.ts";

/**
 * `min hour dom month dow`, or with seconds first. Sunday is 0 or 7. When both day fields
 * are restricted a day matching either runs (POSIX); a day field counts as unrestricted
 * only when it is `*` or `?`.
 */
export function parseUnixCron(expression: string, fields: readonly string[]): CronParse {
  const [secondText = "0", minuteText = "", hourText = "", domText = "", monthText = "", dowText = ""] =
    fields.length === 6 ? fields : ["0", ...fields];
  const problems: string[] = [];
  const numeric = (text: string, rule: FieldRule): number[] => {
    const parsed: FieldParse = parseField(text, rule);
    if (parsed.ok) return parsed.values;
    problems.push(describeFieldProblem(parsed.problem, expression));
    return [];
  };
  const seconds = numeric(secondText, secondRule);
  const minutes = numeric(minuteText, minuteRule);
  const hours = numeric(hourText, hourRule);
  let dayOfMonth: DayOfMonthRule = { kind: "any" };
  const dom = parseDayOfMonth(domText);
  if (dom.ok) dayOfMonth = dom.rule;
  else problems.push(describeFieldProblem(dom.problem, expression));
  const months = numeric(monthText, monthRule);
  let dayOfWeek: DayOfWeekRule = { kind: "any" };
  const dow = parseDayOfWeek(dowText, "unix");
  if (dow.ok) dayOfWeek = dow.rule;
  else problems.push(describeFieldProblem(dow.problem, expression));

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
