/**
 * The target driver: what the conformance suite needs of a target, and nothing more. A
 * test deploys an app folder, drives it from outside (routes, sends, puts, uploads,
 * triggers) and reads what its handlers recorded (objects, queue stats, dead letters).
 * It never reads log text and never reaches into a target's internals, so the same
 * statement runs on the emulator, on host processes with nats-server and the store, and
 * on containers.
 */
import type { BucketClient, BusClient, QueueSendOptions } from "@nimbus/runtime";

/** What `stats()` counts (docs/semantics.md, queues/delivery/7). */
export interface QueueCounts {
  depth: number;
  inFlight: number;
  delayed: number;
  deadLettered: number;
}

/** A message waiting in a dead-letter queue, with where and how it died. */
export interface DeadLetter {
  id: string;
  /** The JSON body, or bytes. */
  body: unknown;
  /** The queue it died in; for a bus delivery, the route (`orders/paid → function fulfil`). */
  queue: string;
  /** Deliveries it had there. */
  attempts: number;
  /** When it was first sent, in ms. */
  firstSeen: number;
  lastError: string;
}

export interface QueueHandle {
  send(body: unknown, options?: QueueSendOptions): Promise<void>;
  sendBatch(messages: readonly ({ body: unknown } & QueueSendOptions)[]): Promise<void>;
  stats(): Promise<QueueCounts>;
  deadLettered(): Promise<DeadLetter[]>;
  /** Moves every dead letter back to where it died; how many went to each queue. */
  redrive(): Promise<Record<string, number>>;
}

export interface ScheduleHandle {
  /** Fires the schedule once now. */
  trigger(): Promise<{ scheduledTime: number }>;
}

/** Where the target's S3 endpoint is, for tests that use the AWS SDK or CLI. */
export interface S3Access {
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** The physical bucket name behind an app's bucket. */
  bucketName(bucket: string): string;
}

/** One app deployed on a target. */
export interface Deployment {
  /** Calls one of the app's routes, e.g. `fetch("/orders", { method: "POST", body })`. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  bucket(name: string): BucketClient;
  queue(name: string): QueueHandle;
  bus(name: string): BusClient;
  schedule(name: string): ScheduleHandle;
  readonly s3: S3Access;
  /**
   * Resolves once nothing is being delivered and nothing is deliverable now (work due
   * later is not waited for). Targets without a manual clock poll their own state.
   */
  idle(): Promise<void>;
  /** Moves the target's clock; only where `driver.canMoveTime`. */
  advance(by: string | number): Promise<void>;
  /** The target's current time in ms (its clock: manual or real). */
  now(): Promise<number>;
  /** Applies the app folder again after the test changed it (a reload, a redeploy). */
  update(): Promise<void>;
  /** Stops every process of the app cleanly and starts them again on the same state. */
  restart(): Promise<void>;
  /** Kills the app's processes with SIGKILL (no clean-up runs) and starts them on the same state. */
  kill(): Promise<void>;
  /** Empties every queue, bucket and schedule record, keeping the app deployed. */
  reset(): Promise<void>;
  close(): Promise<void>;
  /**
   * The latest output of the app's processes, for a failed test's report: how a flake on
   * CI, where nothing else is kept, shows what the hosts did. Absent where the target has
   * no processes of its own to read.
   */
  recentOutput?(): string;
}

export interface DeployOptions {
  /** Run on a clock the test moves (only where `canMoveTime`). Default: the real clock. */
  manualClock?: boolean;
}

export interface TargetDriver {
  /** `emulator`, `processes` or `docker`: the name in the suite's summary line. */
  readonly name: string;
  /** Whether `advance` works; a test that needs it is skipped elsewhere, with its reason. */
  readonly canMoveTime: boolean;
  /**
   * Why the real-clock forms of the statements about time (`ClockForms.real`) are skipped
   * on this target, or undefined when they run. Only for a target that runs the same
   * code as one where they run, and where waiting them out costs more than a CI run has.
   */
  readonly realClockForms?: string;
  /** Why the target cannot run here (a missing service), or undefined when it can. */
  unavailable(): Promise<string | undefined>;
  /** Deploys a copy of `appDir` (the driver copies it; the test may edit the copy via `root`). */
  deploy(appDir: string, options?: DeployOptions): Promise<Deployment & { readonly root: string }>;
}
