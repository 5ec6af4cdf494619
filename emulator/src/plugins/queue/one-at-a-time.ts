import type { Consumer } from "./plugin.ts";

/** A delivery that can never succeed (the target refuses what it is given): it is not retried. */
export class Refusal extends Error {
  override readonly name = "Refusal";
}

/**
 * A consumer taking one message at a time: acked when `deliver` resolves, retried with
 * its error when it throws, given up at once when it throws a `Refusal`.
 */
export function oneAtATime(
  concurrency: number,
  deliver: (body: Uint8Array) => Promise<void>,
  ready: () => boolean,
): Consumer {
  return {
    batchSize: 1,
    maxBatchWait: 0,
    concurrency,
    ready,
    deliver: async (messages) =>
      Promise.all(
        messages.map(async ({ id, body }) => {
          try {
            await deliver(body);
            return { id, ack: true as const };
          } catch (error) {
            return { id, retry: { error: (error as Error).message, final: error instanceof Refusal } };
          }
        }),
      ),
  };
}
