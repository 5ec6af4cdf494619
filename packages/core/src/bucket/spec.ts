import { z } from "zod";
import { props } from "../spec/fields.ts";
import { type BucketEvent, bucketEvents } from "./events.ts";

export {
  type BucketEvent,
  type BucketEventDetail,
  type BucketEvents,
  bucketEventSource,
  bucketEvents,
} from "./events.ts";

/** Normalised settings of one `bucket.notify(bus, ...)`. */
export const bucketNotificationSpecSchema = z.strictObject({
  bus: z.string(),
  events: z.array(z.enum(bucketEvents)).min(1),
  prefix: z.string(),
  suffix: z.string(),
});
export type BucketNotificationSpec = z.infer<typeof bucketNotificationSpecSchema>;

export const bucketSpecSchema = z.strictObject({
  notifications: z.array(bucketNotificationSpecSchema),
});
export type BucketSpec = z.infer<typeof bucketSpecSchema>;

/** A bucket takes no settings yet; the object is there so adding one is not a breaking change. */
export type BucketProps = Record<string, never>;
export const bucketPropsSchema = props({});

export interface NotifyOptions {
  /**
   * Which changes put an event on the bus.
   * @default ["created", "deleted"]
   * @example ["created"]
   */
  events?: BucketEvent[];
  /**
   * Only keys starting with this text.
   * @default ""
   * @example "receipts/"
   */
  prefix?: string;
  /**
   * Only keys ending with this text.
   * @default ""
   * @example ".json"
   */
  suffix?: string;
}

export const notifyOptionsSchema = props({
  events: z
    .array(z.enum(bucketEvents))
    .min(1, { error: 'expected at least one of "created", "deleted"' })
    .optional()
    .transform((events) => [...new Set(events ?? bucketEvents)].sort()),
  prefix: z
    .string()
    .optional()
    .transform((value) => value ?? ""),
  suffix: z
    .string()
    .optional()
    .transform((value) => value ?? ""),
});
