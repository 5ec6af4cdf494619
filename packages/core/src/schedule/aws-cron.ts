import { hourRule, minuteRule, monthRule, yearRule } from "./cron-field.ts";
import type { CronParse } from "./cron-model.ts";
import { cronReader } from "./cron-reader.ts";

/**
 * The fields inside `cron(min hour dom month dow year)`, read as AWS (EventBridge) reads
 * them: day-of-week 1-7 from Sunday, exactly one of the two day fields `?`, years
 * 1970-2199, and `5/10` stepping from 5.
 */
export function parseAwsCron(expression: string, fields: readonly string[]): CronParse {
  const [minuteText = "", hourText = "", domText = "", monthText = "", dowText = "", yearText = ""] = fields;
  const read = cronReader(expression);
  const minutes = read.numeric(minuteText, minuteRule);
  const hours = read.numeric(hourText, hourRule);
  const dayOfMonth = read.dayOfMonth(domText);
  const months = read.numeric(monthText, monthRule);
  const dayOfWeek = read.dayOfWeek(dowText, "aws");
  const years = yearText === "*" ? undefined : read.numeric(yearText, yearRule);
  const { problems } = read;

  const questionMarks = problemWithQuestionMarks(fields, domText, dowText, expression);
  if (questionMarks) problems.push(questionMarks);
  if (problems.length > 0) return { ok: false, problems };
  // One day field is `?`, so requiring both is the same as letting the other decide.
  return {
    ok: true,
    model: { seconds: [0], minutes, hours, dayOfMonth, months, dayOfWeek, years, days: "both" },
  };
}

/** AWS: "If you specify a value or a * in one of the day fields, you must use a ? in the other." */
function problemWithQuestionMarks(
  fields: readonly string[],
  domText: string,
  dowText: string,
  expression: string,
): string | undefined {
  const domAny = domText === "?";
  const dowAny = dowText === "?";
  if (domAny !== dowAny) return undefined;
  const expected = "? in exactly one of day-of-month and day-of-week (the AWS form needs one of them unset)";
  const found = `found "${domText}" and "${dowText}" in "${expression}"`;
  const rewrite = (dom: string, dow: string) =>
    `cron(${[fields[0], fields[1], dom, fields[3], dow, fields[5]].join(" ")})`;
  if (domAny) return `expected ${expected}; ${found}. For every day write ${rewrite("*", "?")}.`;
  if (domText === "*") return `expected ${expected}; ${found}. Write ${rewrite("?", dowText)}.`;
  if (dowText === "*") return `expected ${expected}; ${found}. Write ${rewrite(domText, "?")}.`;
  return `expected ${expected}; ${found}. AWS cannot combine a day of the month with a day of the week: keep one and write ? in the other, or use two schedules.`;
}
