import { type QueueSpec, unknownResource } from "@nimbus/core";
import { checkBatch, checkMessage } from "./send-checks.ts";
import type { OutgoingMessage, QueueStore } from "./store.ts";

/** What a worker tells the emulator after a send it stored: when, and whether a message waits for a delay. */
export interface Sent {
  at: number;
  delayed: boolean;
}

/**
 * A function's queue sends, stored from its worker's own thread: one transaction in the
 * emulator's queue store (opened on first use), checked in it against the queue's spec as
 * the emulator last published it, so a reload that changes a queue applies to the next
 * send of a worker that keeps running. No round trip through the emulator's thread: the
 * caller tells it afterwards (`Sent`), so it wakes the queue's consumer.
 *
 * A queue with a `schema` is left to the emulator (undefined: nothing stored): checking
 * a schema takes zod, about 700 KB that every worker would otherwise load.
 */
export function workerSends(
  open: () => QueueStore,
  now: () => number,
): (name: string, messages: readonly OutgoingMessage[]) => Sent | undefined {
  let store: QueueStore | undefined;
  // Each queue's spec, parsed again only when what the emulator published changed.
  const parsed = new Map<string, { published: string; queue: { name: string; spec: QueueSpec } }>();
  const queueOf = (name: string, published: string) => {
    let entry = parsed.get(name);
    if (entry?.published !== published) {
      entry = { published, queue: { name, spec: JSON.parse(published) as QueueSpec } };
      parsed.set(name, entry);
    }
    return entry.queue;
  };
  return (name, messages) => {
    const at = now();
    store ??= open();
    const stored = store.sendAsPublished(name, messages, at, (published, names) => {
      if (published === undefined) throw unknownResource("queue", name, names());
      const queue = queueOf(name, published);
      if (queue.spec.schema) return false;
      checkBatch(name, messages.length);
      for (const [index, message] of messages.entries()) checkMessage(queue, message, index);
      return true;
    });
    return stored ? { at, delayed: messages.some((message) => (message.delay ?? 0) > 0) } : undefined;
  };
}
