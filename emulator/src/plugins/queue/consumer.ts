import type { Chain } from "@nimbus/core";
import type { Outcome, QueuePolicy } from "./store.ts";

/** A message as a consumer gets it, leased. */
export interface LeasedMessage {
  id: string;
  body: Uint8Array;
  format: "json" | "bytes";
  attempts: number;
  firstSeen: number;
  /** The chain of the invocation that sent it; absent from outside one (docs/semantics.md, "Recursive loops"). */
  chain?: Chain;
}

/**
 * What takes a queue's messages: a function's `queue` handler for the app's queues, or,
 * for a delivery queue, a bus or schedule handing an event or tick to one target.
 */
export interface Consumer {
  batchSize: number;
  /** Ms a partial batch waits to fill. */
  maxBatchWait: number;
  /** Most batches in flight at once. */
  concurrency: number;
  /** Whether it can take a batch now (its function is running). */
  ready(): boolean;
  /** Delivers a leased batch; resolves with what to do with each message. Never rejects. */
  deliver(messages: readonly LeasedMessage[]): Promise<Outcome[]>;
}

/**
 * A queue the app does not declare: one route of a rule or schedule to one target, so
 * that deliveries to functions get the queues' durability, retries and dead letters.
 */
export interface DeliveryQueue {
  /** The route's key, never a valid queue name: `orders_paid_function_fulfil` (core's `deliveryRoute`). */
  name: string;
  /** The route as logs, dead letters and `nimbus queues` show it: `orders/paid → function fulfil`. */
  label: string;
  policy: QueuePolicy;
  consumer: Consumer;
  /** What a message is, for the log when it is dead-lettered or dropped: `event 5b1e… (OrderPaid)`. */
  describe(body: Uint8Array): string;
  /** Why there is no dead-letter queue, and how to get one, for the log when a message is dropped. */
  noDeadLetter: string;
}
