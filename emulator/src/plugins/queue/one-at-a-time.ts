import { type Chain, failedDelivery } from "@nimbus/core";
import type { Consumer } from "./consumer.ts";

/**
 * A consumer taking one message at a time: acked when `deliver` resolves, retried with
 * its error when it throws, given up at once when it throws a `refusal` (core's one way
 * to say "never retry").
 */
export function oneAtATime(
  concurrency: number,
  /** `chain`: that of the invocation that sent the message, absent from outside one. */
  deliver: (body: Uint8Array, chain: Chain | undefined) => Promise<void>,
  ready: () => boolean,
): Consumer {
  return {
    batchSize: 1,
    maxBatchWait: 0,
    concurrency,
    ready,
    deliver: async (messages) =>
      Promise.all(
        messages.map(async ({ id, body, chain }) => {
          try {
            await deliver(body, chain);
            return { id, ack: true as const };
          } catch (error) {
            const { error: reason, final } = failedDelivery(error);
            return { id, retry: { error: reason, final } };
          }
        }),
      ),
  };
}
