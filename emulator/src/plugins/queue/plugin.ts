import { join } from "node:path";
import { NimbusError, type QueueSpec, type ResourceOf } from "@nimbus/core";
import type { Clock } from "../../clock/clock.ts";
import type { Logger } from "../../logs/logger.ts";
import type { FunctionHost } from "../function/host.ts";
import type { MessageOutcome, QueueRunPayload } from "./batch.ts";
import { bodyCheck } from "./schema.ts";
import { type Outcome, type OutgoingMessage, type QueuePolicy, type QueueStats, QueueStore } from "./store.ts";

/** A message in a dead-letter queue, as tests and tools inspect it. */
export interface DeadLetteredMessage {
  id: string;
  body: unknown;
  /** The queue it died in. */
  queue: string;
  /** Its deliveries there. */
  attempts: number;
  /** When it was first sent. */
  firstSeen: Date;
  /** Why its last delivery failed: the thrown error, `timed out after …`, or a visibility timeout. */
  lastError: string;
}

/** `sendBatch` takes at most this many messages, as Workers' Queues and SQS do. */
export const maxBatchSend = 100;

interface RunningQueue {
  name: string;
  spec: QueueSpec;
  policy: QueuePolicy;
  /** Checks JSON bodies against the queue's schema, when it has one. */
  check: ReturnType<typeof bodyCheck>;
  /** Batches being delivered now. */
  running: number;
  /** Since when a partial batch has been waiting for `maxBatchWait`. */
  waitingSince?: number;
  /** The clock timer that wakes this queue next, and when. */
  wake?: { at: number; cancel: () => void };
}

export interface QueuePluginContext {
  stateDir: string;
  clock: Clock;
  logger: Logger;
  /** The running host of a function, to deliver batches to its `queue` handler. */
  host: (fn: string) => FunctionHost | undefined;
}

/**
 * Queues in the emulator: messages durable in SQLite under `<state>/queues/`, delivered
 * to each queue's consumer in batches, at least once, with the retry, visibility-timeout
 * and dead-letter rules of docs/semantics.md. Time comes from the emulator's clock, so a
 * manual clock drives every retry, delay and timeout.
 */
export class QueuePlugin {
  readonly #ctx: QueuePluginContext;
  readonly #store: QueueStore;
  readonly #queues = new Map<string, RunningQueue>();
  readonly #deliveries = new Map<Promise<void>, number>();
  /** Counts clock steps: `settle(since)` waits only for deliveries started at or after one. */
  #epoch = 0;
  #closed = false;

  constructor(ctx: QueuePluginContext) {
    this.#ctx = ctx;
    this.#store = new QueueStore({ file: join(ctx.stateDir, "queues", "queues.sqlite") });
  }

  /** Takes the graph's queues (new, changed or removed); messages stay in the store either way. */
  apply(queues: readonly ResourceOf<"queue">[]): void {
    const wanted = new Map(queues.map((queue) => [queue.name, queue]));
    for (const [name, queue] of this.#queues) {
      if (!wanted.has(name)) {
        queue.wake?.cancel();
        this.#queues.delete(name);
      }
    }
    for (const { name, spec } of queues) {
      const current = this.#queues.get(name);
      const policy: QueuePolicy = {
        visibilityTimeout: spec.visibilityTimeout,
        maxAttempts: spec.delivery.maxAttempts,
        backoff: spec.delivery.backoff,
        deadLetter: spec.deadLetter,
        retention: spec.retention,
      };
      const check = bodyCheck(name, spec.schema);
      if (current) Object.assign(current, { spec, policy, check });
      else this.#queues.set(name, { name, spec, policy, check, running: 0 });
    }
    for (const name of this.#queues.keys()) this.#pump(name, true);
  }

  names(): string[] {
    return [...this.#queues.keys()].sort();
  }

  spec(name: string): QueueSpec | undefined {
    return this.#queues.get(name)?.spec;
  }

  /** Stores messages (all or none) and wakes the queue's consumer. */
  send(name: string, messages: readonly OutgoingMessage[]): string[] {
    const queue = this.#require(name);
    if (messages.length === 0) return [];
    if (messages.length > maxBatchSend) {
      throw new NimbusError(
        "NIMBUS_QUEUE_BATCH",
        `queue "${name}": sendBatch takes at most ${maxBatchSend} messages; found ${messages.length}. Send in batches of ${maxBatchSend}.`,
      );
    }
    for (const [index, message] of messages.entries()) {
      if (message.body.byteLength > queue.spec.maxMessageSize) {
        throw new NimbusError(
          "NIMBUS_QUEUE_MESSAGE_TOO_LARGE",
          `queue "${name}": message ${index + 1} is ${message.body.byteLength.toLocaleString("en")} bytes; the queue's maxMessageSize is ${queue.spec.maxMessageSize.toLocaleString("en")}. Store large payloads in a bucket and send the key.`,
        );
      }
      if (message.format === "json") queue.check?.(message.body, index);
      if ((message.delay ?? 0) < 0 || (message.delay ?? 0) > 12 * 3_600_000) {
        throw new NimbusError(
          "NIMBUS_QUEUE_DELAY",
          `queue "${name}": a delay is 0s to 12h; message ${index + 1} asks for ${message.delay} ms`,
        );
      }
    }
    const ids = this.#store.send(name, messages, this.#ctx.clock.now());
    this.#pump(name);
    return ids;
  }

  stats(name: string): QueueStats {
    this.#require(name);
    return this.#store.stats(name, this.#ctx.clock.now());
  }

  /** What waits in dead-letter queue `name`: each message with where and how it died. */
  deadLettered(name: string, limit?: number): DeadLetteredMessage[] {
    this.#require(name);
    return this.#store.deadLettered(name, limit).map((message) => ({
      id: message.id,
      body: message.format === "json" ? JSON.parse(Buffer.from(message.body).toString("utf8")) : message.body,
      queue: message.deadFrom ?? name,
      attempts: message.deadAttempts ?? message.attempts,
      firstSeen: new Date(message.firstSeen),
      lastError: message.lastError ?? "",
    }));
  }

  /** Moves every message in dead-letter queue `name` back to the queue it died in. */
  redrive(name: string): Record<string, number> {
    this.#require(name);
    const moved = this.#store.redrive(name, this.#ctx.clock.now());
    for (const [source, count] of Object.entries(moved)) {
      this.#ctx.logger.info(`queue ${name}: redrove ${count} message${count === 1 ? "" : "s"} back to ${source}`);
      if (this.#queues.has(source)) this.#pump(source, true);
    }
    return moved;
  }

  /**
   * Resolves once no delivery is running and none is due now; work due later (a delayed
   * message, a back-off, a partial batch's wait) is not waited for.
   */
  async idle(): Promise<void> {
    return this.settle(Number.NEGATIVE_INFINITY);
  }

  /** A mark for `settle`: deliveries started from now on. */
  mark(): number {
    return ++this.#epoch;
  }

  /**
   * Like `idle`, but waits only for deliveries started since `mark` was taken: what a
   * clock step set off. A delivery already running (one a test holds open to let its
   * visibility timeout pass, say) does not hold the clock up.
   */
  async settle(since: number): Promise<void> {
    for (;;) {
      for (const name of this.#queues.keys()) this.#pump(name);
      const waiting = [...this.#deliveries].filter(([, epoch]) => epoch >= since).map(([delivery]) => delivery);
      if (waiting.length === 0) return;
      await Promise.all(waiting);
    }
  }

  /** Empties every queue, forgetting partial-batch waits and wake-ups with it. */
  clear(): void {
    this.#store.clear();
    for (const queue of this.#queues.values()) {
      queue.wake?.cancel();
      queue.wake = undefined;
      queue.waitingSince = undefined;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const queue of this.#queues.values()) queue.wake?.cancel();
    await Promise.all(this.#deliveries.keys());
    this.#store.close();
  }

  /** Throws, naming the app's queues, when there is no queue `name`. */
  assertQueue(name: string): void {
    this.#require(name);
  }

  #require(name: string): RunningQueue {
    const queue = this.#queues.get(name);
    if (!queue) {
      throw new NimbusError(
        "NIMBUS_EMULATOR_UNKNOWN_QUEUE",
        `The app has no queue "${name}" (its queues: ${
          this.names()
            .map((q) => `"${q}"`)
            .join(", ") || "none"
        }).`,
      );
    }
    return queue;
  }

  /**
   * Starts what is due for a queue: batches up to its concurrency, and with `sweep` (its
   * clock wake-up, set for the next lease expiry or retention) expired leases and old
   * messages first. A send or a finished batch need no sweep: nothing expires by them.
   */
  #pump(name: string, sweep = false): void {
    const queue = this.#queues.get(name);
    if (!queue || this.#closed) return;
    const now = this.#ctx.clock.now();
    if (sweep) this.#sweep(queue, now);
    this.#start(queue, now);
    this.#schedule(queue);
  }

  #sweep(queue: RunningQueue, now: number): void {
    const name = queue.name;
    const expired = this.#store.expireLeasesDetailed(name, now, queue.policy);
    for (const id of expired.retried) {
      this.#ctx.logger.warn(
        `queue ${name}: message ${id} was not settled within its visibility timeout; it will be delivered again`,
      );
    }
    this.#logDeadEnds(queue, expired);
    const old = this.#store.dropExpired(name, now, queue.policy);
    if (old.length) this.#ctx.logger.warn(`queue ${name}: dropped ${old.length} message(s) older than its retention`);
  }

  #start(queue: RunningQueue, now: number): void {
    const name = queue.name;
    const consumer = queue.spec.consumer;
    const host = consumer && this.#ctx.host(consumer.function);
    if (consumer && host) {
      while (queue.running < consumer.concurrency) {
        // A read first: an empty queue then costs no write transaction.
        const ready = this.#store.readyCount(name, now, consumer.batchSize);
        if (ready === 0) {
          queue.waitingSince = undefined;
          break;
        }
        if (ready < consumer.batchSize && consumer.maxBatchWait > 0) {
          // A partial batch waits for more, up to maxBatchWait. The wait runs from when the
          // oldest message became deliverable, not from when a slot came free: a message
          // that waited for a busy consumer goes at once.
          queue.waitingSince = this.#store.oldestDeliverable(name, now) ?? now;
          if (now < queue.waitingSince + consumer.maxBatchWait) break;
        }
        const { lease, messages } = this.#store.lease(name, consumer.batchSize, now, queue.policy);
        if (messages.length === 0) break;
        queue.waitingSince = undefined;
        queue.running++;
        const delivery = this.#deliver(queue, host, lease, messages).finally(() => {
          queue.running--;
          this.#deliveries.delete(delivery);
          this.#pump(name);
        });
        this.#deliveries.set(delivery, this.#epoch);
      }
    }
  }

  /** Sets the queue's one wake-up for the next thing due: a delayed message, a back-off, a lease, a batch wait. */
  #schedule(queue: RunningQueue): void {
    const now = this.#ctx.clock.now();
    const candidates = [this.#store.nextDue(queue.name, now), this.#store.nextExpiry(queue.name, queue.policy)];
    const consumer = queue.spec.consumer;
    if (queue.waitingSince !== undefined && consumer) candidates.push(queue.waitingSince + consumer.maxBatchWait);
    // What is due now was started, or waits for a running batch to finish (which pumps again).
    const due = candidates.filter((at): at is number => at !== undefined && at > now).sort((a, b) => a - b)[0];
    if (queue.wake && queue.wake.at === due) return;
    queue.wake?.cancel();
    queue.wake = undefined;
    if (due === undefined) return;
    const cancel = this.#ctx.clock.at(due, () => {
      queue.wake = undefined;
      this.#pump(queue.name, true);
    });
    queue.wake = { at: due, cancel };
  }

  async #deliver(
    queue: RunningQueue,
    host: FunctionHost,
    lease: string,
    messages: readonly {
      id: string;
      body: Uint8Array;
      format: "json" | "bytes";
      attempts: number;
      firstSeen: number;
    }[],
  ): Promise<void> {
    const payload: QueueRunPayload = {
      queue: queue.name,
      messages: messages.map(({ id, body, format, attempts, firstSeen }) => ({
        id,
        body,
        format,
        attempts,
        firstSeen,
      })),
    };
    const result = await host.run("queue", payload, `queue ${queue.name}: batch of ${messages.length}`);
    const reported = new Map(((result.value as MessageOutcome[] | undefined) ?? []).map((o) => [o.id, o]));
    const outcomes: Outcome[] = messages.map((message) => {
      const settled = reported.get(message.id);
      if (settled && "ack" in settled) return { id: message.id, ack: true };
      if (settled) return { id: message.id, retry: { delay: settled.retry.delay, error: "retried by the consumer" } };
      // Unsettled: acked when the handler returned, retried when it failed.
      return result.ok ? { id: message.id, ack: true } : { id: message.id, retry: { error: result.error } };
    });
    this.#logDeadEnds(queue, this.#store.settle(lease, outcomes, this.#ctx.clock.now(), queue.policy));
  }

  #logDeadEnds(queue: RunningQueue, result: { deadLettered: string[]; dropped: string[] }): void {
    const { maxAttempts, deadLetter } = queue.policy;
    for (const id of result.deadLettered) {
      this.#ctx.logger.warn(
        `queue ${queue.name}: message ${id} failed ${times(maxAttempts)}; moved to "${deadLetter}"`,
      );
    }
    for (const id of result.dropped) {
      this.#ctx.logger.error(
        `queue ${queue.name}: message ${id} failed ${times(maxAttempts)} and the queue has no dead-letter queue; it was dropped`,
      );
    }
  }
}

function times(count: number): string {
  return count === 1 ? "once" : `${count} times`;
}
