import { parseDayOfMonth, parseDayOfWeek } from "./cron-days.ts";
import { describeFieldProblem, type FieldRule, parseField } from "./cron-field.ts";
import type { DayOfMonthRule, DayOfWeekRule } from "./cron-model.ts";

/**
 * Reads the fields of one cron expression, collecting a sentence per field that does not
 * parse (and a harmless placeholder for it), so every problem is reported at once.
 */
export function cronReader(expression: string) {
  const problems: string[] = [];
  return {
    problems,
    numeric(text: string, rule: FieldRule): number[] {
      const parsed = parseField(text, rule);
      if (parsed.ok) return parsed.values;
      problems.push(describeFieldProblem(parsed.problem, expression));
      return [];
    },
    dayOfMonth(text: string): DayOfMonthRule {
      const parsed = parseDayOfMonth(text);
      if (parsed.ok) return parsed.rule;
      problems.push(describeFieldProblem(parsed.problem, expression));
      return { kind: "any" };
    },
    dayOfWeek(text: string, dialect: "aws" | "unix"): DayOfWeekRule {
      const parsed = parseDayOfWeek(text, dialect);
      if (parsed.ok) return parsed.rule;
      problems.push(describeFieldProblem(parsed.problem, expression));
      return { kind: "any" };
    },
  };
}
