import { z } from "zod";
import { queueSettings as settings } from "../limits.ts";
import { duration, integer, props, section, size } from "../spec/fields.ts";

/** The queue defaults, each as `queueSettings` in limits.ts holds it. */
export const queueDefaults = {
  visibilityTimeout: settings.visibilityTimeout.default,
  maxAttempts: settings.maxAttempts.default,
  backoffInitial: settings.backoffInitial.default,
  backoffMax: settings.backoffMax.default,
  retention: settings.retention.default,
  maxMessageSize: settings.maxMessageSize.default,
  batchSize: settings.batchSize.default,
  maxBatchWait: settings.maxBatchWait.default,
  concurrency: settings.concurrency.default,
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
  visibilityTimeout: duration(settings.visibilityTimeout),
  delivery: section({
    maxAttempts: integer(settings.maxAttempts),
    backoff: section({
      initial: duration(settings.backoffInitial),
      max: duration(settings.backoffMax),
    }),
  }),
  retention: duration(settings.retention),
  maxMessageSize: size(settings.maxMessageSize),
  // Checked by the construct: they hold objects that are not plain data.
  deadLetter: z.unknown().optional(),
  schema: z.unknown().optional(),
});

export const subscribeOptionsSchema = props({
  batchSize: integer(settings.batchSize),
  maxBatchWait: duration(settings.maxBatchWait),
  concurrency: integer(settings.concurrency),
});
