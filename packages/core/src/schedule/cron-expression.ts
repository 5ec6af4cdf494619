import { parseAwsCron } from "./aws-cron.ts";
import { createCronMatcher } from "./cron-matcher.ts";
import type { CronParse } from "./cron-model.ts";
import { parseUnixCron } from "./unix-cron.ts";

const expectedForms = "a cron expression with 5 or 6 fields or cron(min hour day-of-month month day-of-week year)";

const nicknames: Readonly<Record<string, string>> = {
  "@yearly": "0 0 1 1 *",
  "@annually": "0 0 1 1 *",
  "@monthly": "0 0 1 * *",
  "@weekly": "0 0 * * 0",
  "@daily": "0 0 * * *",
  "@midnight": "0 0 * * *",
  "@hourly": "0 * * * *",
};

/**
 * Reads the three cron forms: `min hour dom month dow`, `sec min hour dom month dow`, and
 * AWS's `cron(min hour dom month dow year)`.
 */
export function parseCronExpression(text: string): CronParse {
  const expression = text.trim();
  const parsed = parseForm(expression);
  if (!parsed.ok) return parsed;
  try {
    createCronMatcher(parsed.model);
  } catch (error) {
    // Our pattern is built to be valid; this keeps validation and evaluation in agreement if it is not.
    const reason = error instanceof Error ? error.message : String(error);
    return {
      ok: false,
      problems: [`expected an expression the evaluator accepts; found "${expression}" (${reason}).`],
    };
  }
  return parsed;
}

function parseForm(expression: string): CronParse {
  const fail = (message: string): CronParse => ({ ok: false, problems: [message] });
  if (expression === "") return fail(`expected ${expectedForms}; found an empty string. Example: "0 2 * * *"`);

  if (/^rate\(/i.test(expression)) {
    return fail(
      `expected ${expectedForms}; found the rate expression "${expression}". Put it under rate instead: { rate: "${expression}" }`,
    );
  }
  const nickname = nicknames[expression.toLowerCase()];
  if (expression.startsWith("@")) {
    const fix = nickname === undefined ? 'Example: "0 0 * * *" for daily at midnight' : `Write "${nickname}"`;
    return fail(`expected ${expectedForms}; found the nickname "${expression}", which Nimbus does not read. ${fix}`);
  }

  if (/^cron\(/i.test(expression)) {
    if (!expression.startsWith("cron(") || !expression.endsWith(")")) {
      return fail(
        `expected cron(min hour day-of-month month day-of-week year), lower-case and closed by ")"; found "${expression}". Example: "cron(0 2 * * ? *)"`,
      );
    }
    const fields = splitFields(expression.slice("cron(".length, -1));
    if (fields.length !== 6) {
      const fix =
        fields.length === 5
          ? `Add the year field: "cron(${fields.join(" ")} *)"`
          : 'Example: "cron(0 2 * * ? *)" for 02:00 every day';
      return fail(
        `expected 6 fields in cron(min hour day-of-month month day-of-week year); found ${fields.length} in "${expression}". ${fix}`,
      );
    }
    return parseAwsCron(expression, fields);
  }

  const fields = splitFields(expression);
  if (fields.length === 5) return parseUnixCron(expression, fields);
  if (fields.length === 6) return parseSixFields(expression, fields);
  const fix =
    fields.length === 7
      ? "Seven fields (seconds and a year) are not read; drop the year, or use cron(min hour day-of-month month day-of-week year)."
      : 'Example: "0 2 * * *"';
  return fail(`expected ${expectedForms}; found ${fields.length} fields in "${expression}". ${fix}`);
}

/**
 * Six fields are seconds-first Unix cron, but an AWS expression pasted without its
 * `cron(...)` also has six, and would otherwise mean something else entirely.
 */
function parseSixFields(expression: string, fields: readonly string[]): CronParse {
  const unix = parseUnixCron(expression, fields);
  if (unix.ok) return unix;
  const aws = `cron(${fields.join(" ")})`;
  if (!parseAwsCron(aws, fields).ok) return unix;
  return {
    ok: false,
    problems: [
      `expected 6 fields with seconds first (sec min hour day-of-month month day-of-week); found "${expression}", which reads as the AWS form (min hour day-of-month month day-of-week year). Write "${aws}"`,
    ],
  };
}

function splitFields(text: string): string[] {
  const trimmed = text.trim();
  return trimmed === "" ? [] : trimmed.split(/\s+/);
}
