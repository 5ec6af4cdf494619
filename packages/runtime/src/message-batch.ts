import { type Delay, delayMs, type Message, type MessageBatch } from "./queue.ts";

/** A batch as a target's delivery loop hands it to the consumer's `queue` handler. */
export interface QueueRunPayload {
  queue: string;
  messages: { id: string; body: Uint8Array; format: "json" | "bytes"; attempts: number; firstSeen: number }[];
}

/** What the consumer decided for one message; unsettled messages are absent. */
export type MessageOutcome = { id: string; ack: true } | { id: string; retry: { delay?: number } };

/**
 * The `MessageBatch` a consumer's `queue` handler gets, and the outcomes it records: the
 * last `ack()` or `retry()` of a message wins, as in Workers.
 */
export function messageBatch(payload: QueueRunPayload): { batch: MessageBatch; outcomes: () => MessageOutcome[] } {
  const settled = new Map<string, MessageOutcome>();
  const decoder = new TextDecoder();
  const messages = payload.messages.map((raw): Message => {
    const body = raw.format === "json" ? JSON.parse(decoder.decode(raw.body)) : raw.body;
    return Object.freeze({
      id: raw.id,
      body,
      attempts: raw.attempts,
      timestamp: new Date(raw.firstSeen),
      ack: () => {
        settled.set(raw.id, { id: raw.id, ack: true });
      },
      retry: (options?: { delay?: Delay }) => {
        settled.set(raw.id, { id: raw.id, retry: { delay: delayMs(options?.delay) } });
      },
    });
  });
  const batch: MessageBatch = Object.freeze({
    queue: payload.queue,
    messages: Object.freeze(messages),
    ackAll: () => {
      for (const message of messages) message.ack();
    },
    retryAll: (options?: { delay?: Delay }) => {
      for (const message of messages) message.retry(options);
    },
  });
  return { batch, outcomes: () => [...settled.values()] };
}
