import { z } from "zod";
import { duration, integer, props, section, size } from "../spec/fields.ts";

/** Documented defaults and limits; the emulator and every deploy target share them. */
export const queueDefaults = {
  visibilityTimeout: "30s",
  maxAttempts: 3,
  backoffInitial: "1s",
  backoffMax: "1m",
  retention: "4 days",
  maxMessageSize: "256KiB",
  batchSize: 10,
  maxBatchWait: "0s",
  concurrency: 1,
} as const;

export const jsonSchemaSchema = z.record(z.string(), z.unknown());

export const queueConsumerSpecSchema = z.strictObject({
  function: z.string(),
  batchSize: z.number().int(),
  maxBatchWait: z.number(),
  concurrency: z.number().int(),
});
export type QueueConsumerSpec = z.infer<typeof queueConsumerSpecSchema>;

export const queueSpecSchema = z.strictObject({
  visibilityTimeout: z.number(),
  delivery: z.strictObject({
    maxAttempts: z.number().int(),
    backoff: z.strictObject({ initial: z.number(), max: z.number() }),
  }),
  /** Name of the queue that receives messages after `maxAttempts`, or null. */
  deadLetter: z.string().nullable(),
  retention: z.number(),
  maxMessageSize: z.number().int(),
  /** JSON Schema of the message body, converted from the zod `schema` prop. */
  schema: jsonSchemaSchema.nullable(),
  consumer: queueConsumerSpecSchema.nullable(),
});
export type QueueSpec = z.infer<typeof queueSpecSchema>;

/** The parts of `QueueProps` that are plain data. */
export const queuePropsSchema = props({
  visibilityTimeout: duration({ default: queueDefaults.visibilityTimeout, min: "1s", max: "12h" }),
  delivery: section({
    maxAttempts: integer({ default: queueDefaults.maxAttempts, min: 1, max: 1000 }),
    backoff: section({
      initial: duration({ default: queueDefaults.backoffInitial, min: "0s", max: "12h" }),
      max: duration({ default: queueDefaults.backoffMax, min: "0s", max: "12h" }),
    }),
  }),
  retention: duration({ default: queueDefaults.retention, min: "1m", max: "14 days" }),
  maxMessageSize: size({ default: queueDefaults.maxMessageSize, min: "1KiB", max: "1MiB" }),
  // Checked by the construct: they hold objects that are not plain data.
  deadLetter: z.unknown().optional(),
  schema: z.unknown().optional(),
});

export const subscribeOptionsSchema = props({
  batchSize: integer({ default: queueDefaults.batchSize, min: 1, max: 100 }),
  maxBatchWait: duration({ default: queueDefaults.maxBatchWait, min: "0s", max: "5m" }),
  concurrency: integer({ default: queueDefaults.concurrency, min: 1, max: 100 }),
});
