import { z } from "zod";
import { jsonSchemaSchema } from "../queue/spec.ts";
import { duration, integer, props, section } from "../spec/fields.ts";

/** Documented defaults and limits of a bus; the emulator and every deploy target share them. */
export const busDefaults = {
  maxAttempts: 3,
  backoffInitial: "1s",
  backoffMax: "1m",
  /** Most entries in one `put`, as EventBridge's PutEvents. */
  maxEntries: 10,
  /** Largest entry, encoded as JSON, as EventBridge. */
  maxEntrySize: 256 * 1024,
  /** Most buses an event passes through by bus-to-bus rules before it stops. */
  maxHops: 5,
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
    maxAttempts: integer({ default: busDefaults.maxAttempts, min: 1, max: 185 }),
    backoff: section({
      initial: duration({ default: busDefaults.backoffInitial, min: "0s", max: "12h" }),
      max: duration({ default: busDefaults.backoffMax, min: "0s", max: "12h" }),
    }),
  }),
  // Checked by the construct: they hold objects that are not plain data.
  deadLetter: z.unknown().optional(),
  schema: z.unknown().optional(),
});
