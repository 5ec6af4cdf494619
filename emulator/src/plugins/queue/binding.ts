import { NimbusError } from "@nimbus/core";
import type { QueueClient, QueueSendOptions } from "@nimbus/runtime";
import { delayMs } from "./batch.ts";
import type { OutgoingMessage } from "./store.ts";

/**
 * The queue binding: bodies are encoded where they are sent (JSON, or bytes as they are),
 * so a body that cannot be sent fails in the sender's own stack; the emulator checks
 * sizes and stores them. `send` carries them, as bytes, to the emulator's queue service.
 */
export function queueClient(queue: string, send: (messages: OutgoingMessage[]) => Promise<void>): QueueClient {
  const encode = (body: unknown, options: QueueSendOptions | undefined, index: number): OutgoingMessage => ({
    ...encodeBody(queue, body, index),
    delay: delayOf(queue, options?.delay, index),
  });
  // Async, so a body that cannot be sent rejects the promise rather than throwing.
  return {
    send: async (body, options) => send([encode(body, options, 0)]),
    sendBatch: async (messages) => send(messages.map((message, index) => encode(message.body, message, index))),
  };
}

function encodeBody(queue: string, body: unknown, index: number): Pick<OutgoingMessage, "format" | "body"> {
  // A copy of exactly the message's bytes: a view's whole buffer would travel otherwise.
  if (body instanceof Uint8Array) return { format: "bytes", body: body.slice() };
  if (body instanceof ArrayBuffer) return { format: "bytes", body: new Uint8Array(body.slice(0)) };
  let json: string | undefined;
  try {
    json = JSON.stringify(body);
  } catch (error) {
    throw new NimbusError(
      "NIMBUS_QUEUE_BODY",
      `queue "${queue}": message ${index + 1} cannot be sent as JSON: ${(error as Error).message}`,
    );
  }
  if (json === undefined) {
    throw new NimbusError(
      "NIMBUS_QUEUE_BODY",
      `queue "${queue}": message ${index + 1} is ${typeof body}, which has no JSON form. Send JSON-serialisable data or bytes.`,
    );
  }
  return { format: "json", body: Buffer.from(json) };
}

function delayOf(queue: string, delay: QueueSendOptions["delay"], index: number): number | undefined {
  try {
    return delayMs(delay);
  } catch (error) {
    throw new NimbusError("NIMBUS_QUEUE_DELAY", `queue "${queue}": message ${index + 1}: ${(error as Error).message}`);
  }
}
