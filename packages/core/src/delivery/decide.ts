import { backoffDelay } from "./backoff.ts";

/** What decides a message's fate after a failed delivery; times in ms. The same for queues, bus and schedule deliveries. */
export interface DeliveryPolicy {
  /** Deliveries after which a failed one ends the message (dead letter or drop). */
  maxAttempts: number;
  /** The back-off between failed deliveries (docs/semantics.md, queues/redelivery/2). */
  backoff: { initial: number; max: number };
  /** The queue that receives a message that ends; null drops it. */
  deadLetter: string | null;
}

/** How one delivery of one message ended, as the consumer (or the transport) reports it. */
export type DeliveryOutcome =
  | { type: "ack" }
  | {
      type: "retry";
      /** Ms until it is deliverable again; undefined: the policy's back-off. */
      delay?: number;
      /** Why it failed, kept as the message's last error. */
      error: string;
      /** The target refused it for good: never retried, it ends now whatever its attempts. */
      final?: boolean;
    };

/** What happens to the message next; the transport carries it out (a SQL update, a JetStream ack/nak/term). */
export type Decision =
  | { action: "ack" }
  | { action: "retry"; after: number; error: string }
  | { action: "dead-letter"; queue: string; error: string }
  | { action: "drop"; error: string };

/**
 * The one delivery decision of every target (docs/semantics.md, queues/redelivery): after
 * `attempts` deliveries (the one that just ended included), an ack is an ack; a failure is
 * retried after the given delay or the back-off, until `maxAttempts` deliveries or a
 * `final` refusal end it in the dead-letter queue, or dropped without one.
 */
export function decideDelivery(
  policy: DeliveryPolicy,
  attempts: number,
  outcome: DeliveryOutcome,
  random: () => number = Math.random,
): Decision {
  if (outcome.type === "ack") return { action: "ack" };
  const { error } = outcome;
  if (outcome.final || attempts >= policy.maxAttempts) {
    return policy.deadLetter === null
      ? { action: "drop", error }
      : { action: "dead-letter", queue: policy.deadLetter, error };
  }
  const after = Math.max(0, outcome.delay ?? backoffDelay(policy, attempts, random));
  return { action: "retry", after, error };
}
