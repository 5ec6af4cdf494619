import { z } from "zod";
import { busLimits, busSettings as settings } from "../limits.ts";
import { jsonSchemaSchema } from "../queue/spec.ts";
import { duration, integer, props, section } from "../spec/fields.ts";

/** The bus defaults and its put limits, each as `busSettings` and `busLimits` in limits.ts hold it. */
export const busDefaults = {
  maxAttempts: settings.maxAttempts.default,
  backoffInitial: settings.backoffInitial.default,
  backoffMax: settings.backoffMax.default,
  maxEntries: busLimits.maxEntries,
  maxEntrySize: busLimits.maxEntrySize,
  maxHops: busLimits.maxHops,
} as const;

export const busSpecSchema = z.strictObject({
  /** Per detail-type, the JSON Schema of `detail`; null when the bus takes any event. */
  schema: z.record(z.string(), jsonSchemaSchema).nullable(),
  /** Retries of a delivery to a function target that throws or times out. */
  delivery: z.strictObject({
    maxAttempts: z.number().int(),
    backoff: z.strictObject({ initial: z.number(), max: z.number() }),
  }),
  /** Name of the queue that receives events whose delivery keeps failing, or null. */
  deadLetter: z.string().nullable(),
});
export type BusSpec = z.infer<typeof busSpecSchema>;

export const busPropsSchema = props({
  delivery: section({
    maxAttempts: integer(settings.maxAttempts),
    backoff: section({
      initial: duration(settings.backoffInitial),
      max: duration(settings.backoffMax),
    }),
  }),
  // Checked by the construct: they hold objects that are not plain data.
  deadLetter: z.unknown().optional(),
  schema: z.unknown().optional(),
});
