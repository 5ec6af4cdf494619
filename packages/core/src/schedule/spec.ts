import { z } from "zod";
import { props } from "../spec/fields.ts";
import { resourceRefSchema } from "../spec/ref.ts";

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
