import { type Chain, deepestChain, failedDelivery, type QueueConsumerSpec } from "@nimbus/core";
import type { MessageOutcome, QueueRunPayload } from "@nimbus/runtime/target";
import type { FunctionHost } from "../function/host.ts";
import type { LoopGuard } from "../loop-guard.ts";
import type { Consumer } from "./consumer.ts";
import type { Outcome } from "./store.ts";

/**
 * The pairing of a queue and the function that consumes it: batches go to the function's
 * `queue` handler; what the handler settled is kept, the rest is acked when it returned
 * and retried when it failed.
 */
export function functionConsumer(
  queue: string,
  spec: QueueConsumerSpec,
  host: (fn: string) => FunctionHost | undefined,
  /** Stops the messages of a recursive loop; the batch runs in the chain of its deepest message. */
  loops: LoopGuard,
): Consumer {
  return {
    batchSize: spec.batchSize,
    maxBatchWait: spec.maxBatchWait,
    concurrency: spec.concurrency,
    ready: () => host(spec.function) !== undefined,
    deliver: async (all) => {
      const running = host(spec.function);
      if (!running)
        return all.map(({ id }) => ({ id, retry: { error: `function "${spec.function}" is not running` } }));
      const stopped: Outcome[] = [];
      const chains: Chain[] = [];
      const route = { via: { kind: "queue" as const, name: queue }, function: spec.function };
      const messages = all.filter(({ id, chain }) => {
        try {
          chains.push(loops.enter(chain, route, `message ${id}`));
          return true;
        } catch (error) {
          const { error: reason, final } = failedDelivery(error);
          stopped.push({ id, retry: { error: reason, final } });
          return false;
        }
      });
      if (messages.length === 0) return stopped;
      const payload: QueueRunPayload = {
        queue,
        messages: messages.map(({ id, body, format, attempts, firstSeen }) => ({
          id,
          body,
          format,
          attempts,
          firstSeen,
        })),
      };
      const result = await running.run(
        "queue",
        payload,
        `queue ${queue}: batch of ${messages.length}`,
        deepestChain(chains),
      );
      const reported = new Map(((result.value as MessageOutcome[] | undefined) ?? []).map((o) => [o.id, o]));
      const outcomes = messages.map((message): Outcome => {
        const settled = reported.get(message.id);
        if (settled && "ack" in settled) return { id: message.id, ack: true };
        if (settled) return { id: message.id, retry: { delay: settled.retry.delay, error: "retried by the consumer" } };
        // Unsettled: acked when the handler returned, retried when it failed.
        return result.ok ? { id: message.id, ack: true } : { id: message.id, retry: { error: result.error } };
      });
      return [...stopped, ...outcomes];
    },
  };
}
