/**
 * What a dead letter carries (queue.ts "Layout"), in one place for every writer of one:
 *
 * - the queue driver, for a delivery that keeps failing (its attempts used up, also when
 *   the consumer crashes or times out at its last attempt: a redelivered copy, JetStream's
 *   delivery count above 1, is decided as a failed delivery before anything else, so no
 *   MAX_DELIVERIES advisory and no mover in the control role are needed; queue.ts
 *   "Attempts");
 * - the queue driver's `deadLetter`, for an event its rule's target refuses (a queue it
 *   does not fit, a bus past the 5th): the control role's router stores it in the bus's
 *   dead-letter queue at once, with 1 attempt and the refusal as its last error
 *   (semantics buses/retries/3), and `QueueAdmin.redrive` stores it back there when the
 *   target refuses it again (retries/5).
 *
 * A dead letter waits in its dead-letter queue's slot `ready.dead.<source>`, where
 * `<source>` is the stream it died in, or for a refusal the name its route's delivery
 * queue would have (`deliveryNames(route.key).stream`: a route to a queue or bus has no
 * stream of its own): `QueueAdmin` reads the slot to count, list and redrive it.
 */
import type { Chain } from "@nimbus/core";
import type { Carried } from "./queue-headers.ts";

/** The message a dead letter is made of. */
export interface DeadMessage {
  id: string;
  format: "json" | "bytes";
  firstSeen: number;
  /** How many times it was published before: the dead letter is the next copy. */
  copy: number;
  /** Its chain: a dead letter keeps it, one deeper only when delivered (docs/semantics.md, "Recursive loops" 5). */
  chain?: Chain;
}

/** How it died. */
export interface Death {
  /** The queue it died in, or its route's label (`orders/paid → queue audit`), as `deadLettered()` reports it. */
  from: string;
  /** Its deliveries there (1 for a refusal). */
  attempts: number;
  /** The last delivery's error, or the refusal. */
  error: string;
}

/** The headers' state of `message` as a dead letter: deliverable at once in its dead-letter queue, attempts from 0 there. */
export function deadLetterOf(message: DeadMessage, death: Death): Carried {
  return {
    id: message.id,
    format: message.format,
    firstSeen: message.firstSeen,
    attempts: 0,
    copy: message.copy + 1,
    notBefore: 0,
    lastError: death.error,
    deadFrom: death.from,
    deadAttempts: death.attempts,
    ...(message.chain ? { chain: message.chain } : {}),
  };
}
