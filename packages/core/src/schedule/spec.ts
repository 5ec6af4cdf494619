import { z } from "zod";
import { props } from "../spec/fields.ts";
import { resourceRefSchema } from "../spec/ref.ts";
import type { ScheduleExpression } from "./expression.ts";

export const scheduleSpecSchema = z.strictObject({
  /** Exactly one of `cron`, `rate` and `every` is set. */
  cron: z.string().optional(),
  rate: z.string().optional(),
  /** Interval in ms, counted from the Unix epoch. */
  every: z.number().optional(),
  timezone: z.string(),
  target: resourceRefSchema,
  /** Delivered to a queue or bus target as the message body or event detail. */
  payload: z.unknown().optional(),
});
export type ScheduleSpec = z.infer<typeof scheduleSpecSchema>;

export const schedulePropsSchema = props({
  cron: z.string().optional(),
  rate: z.string().optional(),
  every: z.string().optional(),
  timezone: z.string().optional(),
  target: z.unknown().optional(),
  payload: z.json().optional(),
});

/** The expression a normalised spec stands for, in the form `nextRuns` takes. */
export function scheduleExpressionOf(spec: ScheduleSpec): ScheduleExpression {
  const expression: ScheduleExpression = { timezone: spec.timezone };
  if (spec.cron !== undefined) expression.cron = spec.cron;
  if (spec.rate !== undefined) expression.rate = spec.rate;
  if (spec.every !== undefined) expression.every = `${spec.every}ms`;
  return expression;
}
