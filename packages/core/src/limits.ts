/**
 * Every default and limit of Nimbus, in one place: the specs build their props schemas
 * from the `…Settings`, and the emulator, the runtime and every deploy target read the
 * `…Limits`. docs/semantics.md's "Defaults and limits" tables are checked against them
 * (limits.test.ts), so the doc, the specs and every target cannot drift apart.
 *
 * A setting is what an app file may choose, written as the app file writes it (`"30s"`,
 * `"256KiB"`); a limit is fixed, as a number (ms, bytes or a count).
 */
import type { Duration } from "./units/duration.ts";
import type { Size } from "./units/size.ts";

/** A readable setting's default and range, as written in an app file. */
export interface Setting<T> {
  default: T;
  min: T;
  max: T;
}

const second = 1_000;
const hour = 3_600_000;
const kib = 1_024;
const mib = 1_024 * kib;
const gib = 1_024 * mib;

/** The settings of a queue (`new Queue(app, name, props)`) and of its consumer (`subscribe`). */
export const queueSettings = {
  visibilityTimeout: { default: "30s", min: "1s", max: "12h" },
  maxAttempts: { default: 3, min: 1, max: 1000 },
  backoffInitial: { default: "1s", min: "0s", max: "12h" },
  backoffMax: { default: "1m", min: "0s", max: "12h" },
  retention: { default: "4 days", min: "1m", max: "14 days" },
  maxMessageSize: { default: "256KiB", min: "1KiB", max: "1MiB" },
  batchSize: { default: 10, min: 1, max: 100 },
  maxBatchWait: { default: "0s", min: "0s", max: "5m" },
  concurrency: { default: 1, min: 1, max: 100 },
} as const satisfies Record<string, Setting<Duration> | Setting<Size> | Setting<number>>;

/** Fixed limits of queues. */
export const queueLimits = {
  /** Longest `delay` of a send or a `retry()`, in ms: the longest visibility timeout and back-off. */
  maxDelay: 12 * hour,
  /** Most messages in one `sendBatch`, as Workers' Queues and SQS. */
  maxBatchSend: 100,
} as const;

/** The settings of an event bus (`new Bus(app, name, props)`). */
export const busSettings = {
  maxAttempts: { default: 3, min: 1, max: 185 },
  backoffInitial: { default: "1s", min: "0s", max: "12h" },
  backoffMax: { default: "1m", min: "0s", max: "12h" },
} as const satisfies Record<string, Setting<Duration> | Setting<number>>;

/** Fixed limits of event buses. */
export const busLimits = {
  /** Most entries in one `put`, as EventBridge's PutEvents. */
  maxEntries: 10,
  /** Largest entry, encoded as JSON, in bytes, as EventBridge. */
  maxEntrySize: 256 * kib,
  /** Most buses an event passes through by bus-to-bus rules before it stops. */
  maxHops: 5,
  /** Ms after its put at which a delivery not yet done is dropped: EventBridge's longest event age. */
  maxEventAge: 24 * hour,
  /**
   * Ms a function delivery's lease outlives the function's timeout: the run ends first, so
   * one delivery never runs twice at once, and a run cut by a stop is retried after it.
   */
  leaseMargin: 30 * second,
  /** Ms a hand-over to a queue or bus target may take: one local write, bounded all the same. */
  forwardTimeout: 30 * second,
} as const;

/** Fixed limits of schedules. */
export const scheduleLimits = {
  /** A failing `scheduled` run is retried as a queue message with the queue defaults. */
  maxAttempts: queueSettings.maxAttempts.default,
  backoffInitial: queueSettings.backoffInitial.default,
  backoffMax: queueSettings.backoffMax.default,
  /** Ms after its due time at which a tick that keeps failing is dropped, like a bus's event. */
  maxTickAge: 24 * hour,
  /** Ms a tick's lease outlives its function's timeout, as a bus delivery's. */
  leaseMargin: 30 * second,
  /** Ms late after which a tick's hand-over says so in the log. */
  lateAfter: 1 * second,
  /**
   * Ms after which a running control replica takes over a tick another one claimed and
   * did not record as stored (it died in between), publishing it again under the same
   * message id: longer than a claim, store and record ever take, shorter than the
   * deployed streams' 60 s duplicate window, so a repeat of a stored tick is dropped.
   */
  claimLease: 30 * second,
  /** Missed ticks counted (for the log) after a stop, at most. */
  maxMissedCount: 10_000,
} as const;

/** The settings of a function (`new FunctionResource(app, name, props)`). */
export const functionSettings = {
  timeout: { default: "10s", min: "1s", max: "15m" },
  concurrency: { default: 10, min: 1, max: 1000 },
  memory: { default: "256MiB", min: "64MiB", max: "10GiB" },
  maxBodySize: { default: "6MiB", min: "1KiB", max: "1GiB" },
  /** CPUs the function's container may use; the emulator does not limit it. */
  cpu: { default: 1, min: 0.1, max: 64 },
  /** Replicas of the function's container; the emulator runs one host whatever it says. */
  scale: { default: 1, min: 1, max: 100 },
} as const satisfies Record<string, Setting<Duration> | Setting<Size> | Setting<number>>;

/** Fixed limits of buckets, as S3's. */
export const bucketLimits = {
  /** Largest object of one upload, and largest part, in bytes. */
  maxObjectSize: 5 * gib,
  /** Smallest part of a multipart upload but the last, in bytes. */
  minPartSize: 5 * mib,
  /** Part numbers run from 1 to this. */
  maxParts: 10_000,
  /** Longest key, in UTF-8 bytes. */
  maxKeyBytes: 1_024,
  /** Most user metadata of one object, names and values in UTF-8 bytes. */
  maxMetadataBytes: 2 * kib,
  /** Most keys of one delete of several objects. */
  maxDeleteKeys: 1_000,
  /** Most keys (and prefixes) of one page of a listing. */
  maxListKeys: 1_000,
  /** Longest validity of a presigned URL, in ms: 7 days, as S3's SigV4. */
  maxPresignExpiry: 7 * 24 * hour,
  /** Shortest validity of a presigned URL, in ms. */
  minPresignExpiry: 1 * second,
} as const;

/** Fixed limits of chains of invocations (docs/semantics.md, "Recursive loops"). */
export const loopLimits = {
  /**
   * Most invocations in one chain, each caused by the one before through a queue, a bus or
   * a bucket notification, as Lambda's recursive loop detection: the delivery that would
   * start the 17th is stopped.
   */
  maxDepth: 16,
} as const;

/** Fixed limits of bucket notifications. */
export const notificationLimits = {
  /** Changes put on the bus in one `put`: the bus's limit. */
  maxEntriesPerPut: busLimits.maxEntries,
} as const;
