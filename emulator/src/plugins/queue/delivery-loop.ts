import type { Clock } from "../../clock/clock.ts";
import type { Work } from "../../clock/work.ts";
import type { Logger } from "../../logs/logger.ts";
import type { Consumer, LeasedMessage } from "./consumer.ts";
import type { RunningQueue, RunningQueues } from "./queues.ts";
import type { QueueStore, SettleResult } from "./store.ts";

export interface DeliveryLoopContext {
  store: QueueStore;
  queues: RunningQueues;
  clock: Clock;
  /** Where deliveries are counted, so tests can wait for them. */
  work: Work;
  logger: Logger;
}

/**
 * Hands each queue's messages to its consumer: batches up to the consumer's concurrency,
 * partial batches held for `maxBatchWait`, one clock wake-up per queue for the next thing
 * due (a delay, a back-off, a lease, a batch wait, retention), and the log lines of
 * messages that end in a dead-letter queue or are dropped.
 */
export class DeliveryLoop {
  readonly #ctx: DeliveryLoopContext;
  readonly #deliveries = new Set<Promise<void>>();
  #closed = false;

  constructor(ctx: DeliveryLoopContext) {
    this.#ctx = ctx;
    // What a settle may find undelivered: ready messages whose consumer could not take them
    // when they came (its function was starting). Anything later has a clock wake-up.
    ctx.work.onSettle(() => {
      for (const name of ctx.store.readyQueues()) this.pump(name);
    });
  }

  /**
   * Starts what is due for a queue: batches up to its concurrency, and with `sweep` (its
   * clock wake-up, set for the next lease expiry or retention) expired leases and old
   * messages first. A send or a finished batch need no sweep: nothing expires by them.
   *
   * `dueFrom`: the caller's change makes nothing due before this time (a send of messages
   * deliverable at once: their retention; a batch that ended all acked: never). When the
   * deliveries started here add nothing earlier either, and the queue's wake-up comes no
   * later, it is kept as it is, without the queries that work it out: a wake-up that finds
   * nothing due only works it out then. Unknown changes (a delay, a retry) pass nothing.
   */
  pump(name: string, { sweep = false, dueFrom }: { sweep?: boolean; dueFrom?: number } = {}): void {
    const queue = this.#ctx.queues.get(name);
    if (!queue || this.#closed) return;
    const now = this.#ctx.clock.now();
    if (sweep) this.#sweep(queue, now);
    const started = this.#start(queue, now);
    if (dueFrom !== undefined && queue.wake && queue.wake.at <= Math.min(dueFrom, started)) return;
    this.#schedule(queue);
  }

  /** Forgets every partial-batch wait and wake-up (the store was emptied). */
  forget(): void {
    for (const queue of this.#ctx.queues.all()) {
      queue.wake?.cancel();
      queue.wake = undefined;
      queue.waitingSince = undefined;
    }
  }

  /** Stops waking queues and waits for the batches in flight. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const queue of this.#ctx.queues.all()) queue.wake?.cancel();
    await Promise.all(this.#deliveries);
  }

  #sweep(queue: RunningQueue, now: number): void {
    const { store, logger } = this.#ctx;
    const name = queue.name;
    const label = queue.label ?? name;
    const expired = store.expireLeasesDetailed(name, now, queue.policy);
    for (const id of expired.retried) {
      logger.warn(
        `queue ${label}: message ${id} was not settled within its visibility timeout; it will be delivered again`,
      );
    }
    this.#logDeadEnds(queue, expired);
    const old = store.dropExpired(name, now, queue.policy);
    if (old.length) logger.warn(`queue ${label}: dropped ${old.length} message(s) older than its retention`);
  }

  /** Starts the batches due; returns the earliest time they make something due (a lease's expiry, a batch wait). */
  #start(queue: RunningQueue, now: number): number {
    const { store, work } = this.#ctx;
    const name = queue.name;
    const consumer = queue.consumer;
    let due = Number.POSITIVE_INFINITY;
    if (!consumer?.ready()) return due;
    while (queue.running < consumer.concurrency) {
      // With a batch wait, a read first tells whether a partial batch waits (and an empty
      // queue costs no write transaction). Without one, the lease finds out by itself: one
      // transaction rather than a read and a write, which a steady stream of sends favours.
      if (consumer.maxBatchWait > 0) {
        const ready = store.readyCount(name, now, consumer.batchSize);
        if (ready === 0) {
          queue.waitingSince = undefined;
          break;
        }
        if (ready < consumer.batchSize) {
          // A partial batch waits for more, up to maxBatchWait. The wait runs from when the
          // oldest message became deliverable, not from when a slot came free: a message
          // that waited for a busy consumer goes at once.
          queue.waitingSince = store.oldestDeliverable(name, now) ?? now;
          if (now < queue.waitingSince + consumer.maxBatchWait) {
            due = Math.min(due, queue.waitingSince + consumer.maxBatchWait);
            break;
          }
        }
      }
      const { lease, messages } = store.lease(name, consumer.batchSize, now, queue.policy);
      if (messages.length === 0) break;
      queue.waitingSince = undefined;
      queue.running++;
      due = Math.min(due, now + queue.policy.visibilityTimeout);
      const delivery: Promise<void> = this.#deliver(queue, consumer, lease, messages).then(
        (dueFrom) => this.#ended(queue, delivery, dueFrom),
        (error: unknown) => {
          this.#ended(queue, delivery);
          throw error;
        },
      );
      this.#deliveries.add(delivery);
      work.track(delivery);
    }
    return due;
  }

  /** A batch ended: its slot is free for the next; `dueFrom` as for `pump`. */
  #ended(queue: RunningQueue, delivery: Promise<void>, dueFrom?: number): void {
    queue.running--;
    this.#deliveries.delete(delivery);
    this.pump(queue.name, { dueFrom });
  }

  /** Sets the queue's one wake-up for the next thing due: a delayed message, a back-off, a lease, a batch wait. */
  #schedule(queue: RunningQueue): void {
    const { store, clock } = this.#ctx;
    const now = clock.now();
    const consumer = queue.consumer;
    // Without a consumer nothing is delivered, so only retention can fall due.
    const candidates = [store.nextExpiry(queue.name, queue.policy)];
    if (consumer) candidates.push(store.nextDue(queue.name, now));
    if (queue.waitingSince !== undefined && consumer) candidates.push(queue.waitingSince + consumer.maxBatchWait);
    // What is due now was started, or waits for a running batch to finish (which pumps again).
    const due = candidates.filter((at): at is number => at !== undefined && at > now).sort((a, b) => a - b)[0];
    if (queue.wake && queue.wake.at === due) return;
    queue.wake?.cancel();
    queue.wake = undefined;
    if (due === undefined) return;
    const cancel = clock.at(due, () => {
      queue.wake = undefined;
      this.pump(queue.name, { sweep: true });
    });
    queue.wake = { at: due, cancel };
  }

  /** Delivers a batch and settles it; resolves to `pump`'s `dueFrom`: never when nothing was retried. */
  async #deliver(
    queue: RunningQueue,
    consumer: Consumer,
    lease: string,
    messages: readonly LeasedMessage[],
  ): Promise<number | undefined> {
    const outcomes = await consumer.deliver(
      messages.map(({ id, body, format, attempts, firstSeen, chain }) => ({
        id,
        body,
        format,
        attempts,
        firstSeen,
        ...(chain ? { chain } : {}),
      })),
    );
    const settled = this.#ctx.store.settle(lease, outcomes, this.#ctx.clock.now(), queue.policy);
    this.#logDeadEnds(queue, settled);
    return settled.retried.length === 0 ? Number.POSITIVE_INFINITY : undefined;
  }

  #logDeadEnds(queue: RunningQueue, result: Pick<SettleResult, "deadLettered" | "dropped" | "bodies">): void {
    const { logger } = this.#ctx;
    const { maxAttempts, deadLetter } = queue.policy;
    const what = (id: string) => {
      const body = result.bodies.get(id);
      return queue.describe && body ? queue.describe(body) : `message ${id}`;
    };
    // A delivery queue's message can also end before its last attempt, refused for good.
    const failed = queue.describe ? "could not be delivered" : `failed ${times(maxAttempts)}`;
    for (const id of result.deadLettered) {
      logger.warn(`queue ${queue.label ?? queue.name}: ${what(id)} ${failed}; moved to "${deadLetter}"`);
    }
    for (const id of result.dropped) {
      logger.error(
        `queue ${queue.label ?? queue.name}: ${what(id)} ${failed} and ${queue.noDeadLetter ?? "the queue has no dead-letter queue"}; it was dropped`,
      );
    }
  }
}

function times(count: number): string {
  return count === 1 ? "once" : `${count} times`;
}
