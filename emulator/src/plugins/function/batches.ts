import type { TransferListItem } from "node:worker_threads";

/**
 * Messages between the emulator and a function's worker, sent in batches: what one side
 * posts during a turn of its event loop crosses as one message at the end of that turn.
 * Each crossing costs both threads a wake-up and a (de)serialisation whatever it carries;
 * under load a turn serves many requests, so batching divides that cost by their number
 * (bench/src/emulator.ts, hello world). Order is kept: `now` sends what is queued first.
 */
export class Batches<T> {
  readonly #send: (batch: T[], transfer: TransferListItem[]) => void;
  #queued: T[] = [];
  #transfer: TransferListItem[] = [];
  #scheduled: NodeJS.Immediate | undefined;

  constructor(send: (batch: T[], transfer: TransferListItem[]) => void) {
    this.#send = send;
  }

  /** Sends `message` with the turn's batch. */
  post(message: T, transfer: readonly TransferListItem[] = []): void {
    this.#queued.push(message);
    for (const item of transfer) this.#transfer.push(item);
    this.#scheduled ??= setImmediate(() => this.flush());
  }

  /** Sends `message` at once, after what is queued: for what must not wait for the turn's end (a log line before a hang). */
  now(message: T, transfer: readonly TransferListItem[] = []): void {
    this.post(message, transfer);
    this.flush();
  }

  /** Sends what is queued. */
  flush(): void {
    clearImmediate(this.#scheduled);
    this.#scheduled = undefined;
    if (this.#queued.length === 0) return;
    const batch = this.#queued;
    const transfer = this.#transfer;
    this.#queued = [];
    this.#transfer = [];
    this.#send(batch, transfer);
  }
}

/** Calls `handle` with each message of what arrived: a batch, or one message (a worker's bootstrap posts single ones). */
export function eachMessage<T>(data: T | T[], handle: (message: T) => void): void {
  if (!Array.isArray(data)) {
    handle(data);
    return;
  }
  for (const message of data) handle(message);
}
