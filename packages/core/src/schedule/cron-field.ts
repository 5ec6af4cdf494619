/**
 * The numeric part of a cron field, shared by the Unix and the AWS forms: lists (`1,15`),
 * ranges (`1-5`), steps (`*\/15`, `5/10`, `0-30/10`) and names (`JAN`, `MON`).
 */
export interface FieldRule {
  /** Name in messages, e.g. `minute`. */
  label: string;
  min: number;
  max: number;
  /** What the field accepts, for messages, e.g. `0-59` or `1-12 or JAN-DEC`. */
  accepts: string;
  /** Upper-case names for values, e.g. `JAN` → 1. */
  names?: Readonly<Record<string, number>>;
  /** A name's value at the end of a range, when it differs: Unix `FRI-SUN` must read SUN as 7, not 0. */
  rangeEndNames?: Readonly<Record<string, number>>;
  /** Whether `/` steps are allowed (AWS allows none in day-of-week). */
  steps: boolean;
}

/** What was expected and what was found; the caller adds the expression and a fix. */
export interface FieldProblem {
  expected: string;
  found: string;
  fix: string;
}

export type FieldParse = { ok: true; values: number[] } | { ok: false; problem: FieldProblem };

export const monthNames: Readonly<Record<string, number>> = {
  JAN: 1,
  FEB: 2,
  MAR: 3,
  APR: 4,
  MAY: 5,
  JUN: 6,
  JUL: 7,
  AUG: 8,
  SEP: 9,
  OCT: 10,
  NOV: 11,
  DEC: 12,
};

/** Sorted, distinct values of a list such as `0,15-20,*\/30`. */
export function parseField(text: string, rule: FieldRule): FieldParse {
  const values = new Set<number>();
  for (const item of text.split(",")) {
    const parsed = parseItem(item, rule);
    if (!parsed.ok) return parsed;
    for (const value of parsed.values) values.add(value);
  }
  return { ok: true, values: [...values].sort((a, b) => a - b) };
}

function parseItem(item: string, rule: FieldRule): FieldParse {
  const invalid = (fix: string): FieldParse => ({
    ok: false,
    problem: { expected: `${article(rule.label)} ${rule.label} (${rule.accepts})`, found: `"${item}"`, fix },
  });
  if (item === "") return invalid("Remove the empty entry between commas.");

  const slash = item.split("/");
  if (slash.length > 2) return invalid("Use one step, as in */15.");
  const [base = "", stepText] = slash;
  let step = 1;
  if (stepText !== undefined) {
    if (!rule.steps) return invalid(`The ${rule.label} field takes no step (/); list the values instead.`);
    step = Number(stepText);
    const span = rule.max - rule.min;
    if (!/^\d+$/.test(stepText) || step < 1 || step > span) {
      return {
        ok: false,
        problem: {
          expected: `a step from 1 to ${span} in the ${rule.label} field`,
          found: `"/${stepText}"`,
          fix:
            step > span
              ? `A cron step cannot reach past the end of its field; for a longer interval use every (e.g. every: "90m").`
              : "Write the step as a whole number, as in */15.",
        },
      };
    }
  }

  if (base === "*") return { ok: true, values: range(rule.min, rule.max, step) };

  const dash = base.split("-");
  if (dash.length > 2) return invalid("Write a range as start-end, as in 1-5.");
  const [startText = "", endText] = dash;
  const start = readValue(startText, rule, false);
  if (start === undefined) return invalid(`Use ${rule.accepts}.`);
  if (endText === undefined) {
    // Without a range, `5/10` steps from 5 to the end of the field (AWS and Quartz).
    return { ok: true, values: stepText === undefined ? [start] : range(start, rule.max, step) };
  }
  const end = readValue(endText, rule, true);
  if (end === undefined) return invalid(`Use ${rule.accepts}.`);
  if (start > end) {
    return invalid(`Ranges do not wrap around; write ${startText}-${rule.max},${rule.min}-${endText} instead.`);
  }
  return { ok: true, values: range(start, end, step) };
}

function article(word: string): string {
  return /^(hour|[aeiou])/.test(word) ? "an" : "a";
}

function readValue(text: string, rule: FieldRule, rangeEnd: boolean): number | undefined {
  const upper = text.toUpperCase();
  const named = (rangeEnd ? rule.rangeEndNames?.[upper] : undefined) ?? rule.names?.[upper];
  if (named !== undefined) return named;
  if (!/^\d+$/.test(text)) return undefined;
  const value = Number(text);
  return value >= rule.min && value <= rule.max ? value : undefined;
}

function range(from: number, to: number, step: number): number[] {
  const values: number[] = [];
  for (let value = from; value <= to; value += step) values.push(value);
  return values;
}

export const secondRule: FieldRule = { label: "second", min: 0, max: 59, accepts: "0-59", steps: true };
export const minuteRule: FieldRule = { label: "minute", min: 0, max: 59, accepts: "0-59", steps: true };
export const hourRule: FieldRule = { label: "hour", min: 0, max: 23, accepts: "0-23", steps: true };
export const monthRule: FieldRule = {
  label: "month",
  min: 1,
  max: 12,
  accepts: "1-12 or JAN-DEC",
  names: monthNames,
  steps: true,
};
/** AWS's year range. */
export const yearRule: FieldRule = { label: "year", min: 1970, max: 2199, accepts: "1970-2199", steps: true };

/** `expected …; found … in "<expression>". <fix>` */
export function describeFieldProblem(problem: FieldProblem, expression: string): string {
  return `expected ${problem.expected}; found ${problem.found} in "${expression}". ${problem.fix}`;
}
