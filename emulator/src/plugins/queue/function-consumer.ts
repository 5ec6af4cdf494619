import type { QueueConsumerSpec } from "@nimbus/core";
import type { MessageOutcome, QueueRunPayload } from "@nimbus/runtime/target";
import type { FunctionHost } from "../function/host.ts";
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
): Consumer {
  return {
    batchSize: spec.batchSize,
    maxBatchWait: spec.maxBatchWait,
    concurrency: spec.concurrency,
    ready: () => host(spec.function) !== undefined,
    deliver: async (messages) => {
      const running = host(spec.function);
      if (!running)
        return messages.map(({ id }) => ({ id, retry: { error: `function "${spec.function}" is not running` } }));
      const payload: QueueRunPayload = { queue, messages: [...messages] };
      const result = await running.run("queue", payload, `queue ${queue}: batch of ${messages.length}`);
      const reported = new Map(((result.value as MessageOutcome[] | undefined) ?? []).map((o) => [o.id, o]));
      return messages.map((message): Outcome => {
        const settled = reported.get(message.id);
        if (settled && "ack" in settled) return { id: message.id, ack: true };
        if (settled) return { id: message.id, retry: { delay: settled.retry.delay, error: "retried by the consumer" } };
        // Unsettled: acked when the handler returned, retried when it failed.
        return result.ok ? { id: message.id, ack: true } : { id: message.id, retry: { error: result.error } };
      });
    },
  };
}
