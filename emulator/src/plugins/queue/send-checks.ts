import { NimbusError, type QueueSpec, queueLimits } from "@nimbus/core";
import type { RunningQueue } from "./queues.ts";
import type { OutgoingMessage } from "./store.ts";

/** `sendBatch` takes at most this many messages, as Workers' Queues and SQS do. */
export const maxBatchSend = queueLimits.maxBatchSend;

/** Throws when a send of `count` messages is more than one batch takes. */
export function checkBatch(name: string, count: number): void {
  if (count > maxBatchSend) {
    throw new NimbusError(
      "NIMBUS_QUEUE_BATCH",
      `queue "${name}": sendBatch takes at most ${maxBatchSend} messages; found ${count}. Send in batches of ${maxBatchSend}.`,
    );
  }
}

/**
 * Throws what a send of `message` to the app's queue would: too large, a delay out of
 * range, a body its schema refuses. `index` numbers the message in the error.
 */
export function checkMessage(
  queue: { name: string; spec: QueueSpec; check?: RunningQueue["check"] },
  message: OutgoingMessage,
  index = 0,
): void {
  const { name, spec } = queue;
  if (message.body.byteLength > spec.maxMessageSize) {
    throw new NimbusError(
      "NIMBUS_QUEUE_MESSAGE_TOO_LARGE",
      `queue "${name}": message ${index + 1} is ${message.body.byteLength.toLocaleString("en")} bytes; the queue's maxMessageSize is ${spec.maxMessageSize.toLocaleString("en")}. Store large payloads in a bucket and send the key.`,
    );
  }
  if (message.format === "json") queue.check?.(message.body, index);
  if ((message.delay ?? 0) < 0 || (message.delay ?? 0) > queueLimits.maxDelay) {
    throw new NimbusError(
      "NIMBUS_QUEUE_DELAY",
      `queue "${name}": a delay is 0s to 12h; message ${index + 1} asks for ${message.delay} ms`,
    );
  }
}
