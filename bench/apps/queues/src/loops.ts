/**
 * The measured code, run inside the handlers. Shared word for word by the Nimbus functions
 * and the Miniflare Worker (which loads this file with its types stripped), so both sides
 * run the same loops; only the clock and the binding differ.
 *
 * Imports nothing: it must run unbundled in workerd.
 */

/** A message body: when it was sent (ms on the side's clock) and its place in the run. */
export interface Sent {
  sentAt: number;
  i: number;
}

/** The part of a queue binding the loops use; Nimbus's QueueClient and Workers' Queue both have it. */
export interface LoopQueue {
  send(body: Sent): Promise<unknown>;
  sendBatch(messages: { body: Sent }[]): Promise<unknown>;
}

/** `POST /run`: `count` messages, one `send` each when `batch` is 1, else `sendBatch`es of `batch`; each awaited before the next. */
export interface SendRun {
  count: number;
  batch: number;
}

export interface SendResult {
  /** When the first send started, on the side's clock. */
  startedAt: number;
  /** How long all the sends took. */
  sendMs: number;
}

export async function runSends(queue: LoopQueue, run: SendRun, now: () => number): Promise<SendResult> {
  const startedAt = now();
  if (run.batch <= 1) {
    for (let i = 0; i < run.count; i++) await queue.send({ sentAt: now(), i });
  } else {
    for (let i = 0; i < run.count; i += run.batch) {
      const sentAt = now();
      const size = Math.min(run.batch, run.count - i);
      await queue.sendBatch(Array.from({ length: size }, (_, k) => ({ body: { sentAt, i: i + k } })));
    }
  }
  return { startedAt, sendMs: now() - startedAt };
}

/** `GET /stats`: what the sink has handled since its last reset. */
export interface SinkStats {
  count: number;
  /** When the last batch's handler finished, on the side's clock. */
  lastAt: number;
  /** Send → handler start, ms. */
  latency: { p50: number; p99: number; max: number };
}

/** The consumer's module state: a count and the send → handler-start latency of every message. */
export class Sink {
  #count = 0;
  #lastAt = 0;
  #latencies: number[] = [];

  /** Call first thing in the `queue` handler, with the time read there; acks every message. */
  record(messages: readonly { body: Sent; ack(): void }[], startedAt: number, now: () => number): void {
    for (const message of messages) {
      this.#latencies.push(startedAt - message.body.sentAt);
      message.ack();
    }
    this.#count += messages.length;
    this.#lastAt = now();
  }

  stats(): SinkStats {
    const sorted = [...this.#latencies].sort((a, b) => a - b);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
    return { count: this.#count, lastAt: this.#lastAt, latency: { p50: at(0.5), p99: at(0.99), max: at(1) } };
  }

  reset(): void {
    this.#count = 0;
    this.#lastAt = 0;
    this.#latencies = [];
  }
}
