/**
 * Stores a message straight into a stream of the queue machinery (an app's queue or a
 * delivery queue), in the layout and headers of `JetStreamQueues` (queue.ts "Layout"),
 * with a JetStream message id the caller chooses: the control role's router and
 * scheduler need that id (`<event id>:<route key>`, `<schedule>:<tick>`) so that a
 * publish repeated after their crash is dropped by the stream's duplicate window, and
 * the driver's `send` makes its own ids.
 *
 * The same writer stores a dead letter at once: an event a target refuses (a queue it
 * does not fit, a bus past the 5th) goes to the bus's dead-letter queue with 1 attempt
 * and the refusal as its last error, in the slot `ready.dead.<source stream>` that the
 * tools' `deadLettered()` and stats read, `Nimbus-Dead-From` the route's label.
 *
 * Dead letters of deliveries that keep failing, also when the consumer crashes or times
 * out at its last attempt, are the driver's: it decides a redelivered copy (JetStream's
 * delivery count above 1) as a failed delivery before anything else, so no
 * MAX_DELIVERIES advisory and no mover in the control role are needed (queue.ts
 * "Attempts").
 *
 * The headers are the driver's own (queue-headers.ts); host tests read what this writes
 * through the driver and `QueueAdmin.deadLettered()`.
 */
import { randomUUID } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import type { QueueStreamNames } from "@nimbus/core";
import { type Carried, toHeaders } from "./queue-headers.ts";

/** One message to store, as the queue driver's headers carry it. */
export interface StoredMessage {
  /** The message's JSON (or bytes). */
  body: Uint8Array;
  format?: "json" | "bytes";
  /**
   * When it was first sent (ms): what retention and a bus delivery's 24 h count from.
   * @default now
   */
  firstSeen?: number;
  /** For a dead letter: where it died and how. */
  dead?: {
    /** The queue or route it died in, as `deadLettered()` reports it: `orders/paid → queue audit`. */
    from: string;
    /** The stream that route's slot is named after (`ready.dead.<stream>`). */
    sourceStream: string;
    attempts: number;
    lastError: string;
  };
}

/**
 * Publishes `message` into the queue-machinery stream `names` (deliverable at once), or
 * as a dead letter into its slot for `message.dead.sourceStream`, with `msgID` as its
 * JetStream message id; resolves once the server stored it (or dropped it as a duplicate).
 */
export async function storeMessage(
  js: JetStreamClient,
  names: QueueStreamNames,
  message: StoredMessage,
  msgID: string,
): Promise<void> {
  const { dead } = message;
  const carried: Carried = {
    id: randomUUID(),
    format: message.format ?? "json",
    firstSeen: message.firstSeen ?? Date.now(),
    attempts: 0,
    copy: 0,
    notBefore: 0,
  };
  if (dead) Object.assign(carried, { lastError: dead.lastError, deadFrom: dead.from, deadAttempts: dead.attempts });
  const subject = dead ? names.deadLetter(dead.sourceStream) : names.ready;
  await js.publish(subject, message.body, { headers: toHeaders(carried), msgID });
}
