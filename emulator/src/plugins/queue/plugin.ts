import { join } from "node:path";
import { NimbusError, type QueueConsumerSpec, type QueueSpec, queueLimits, type ResourceOf } from "@nimbus/core";
import type { MessageOutcome, QueueRunPayload } from "@nimbus/runtime/target";
import type { Clock } from "../../clock/clock.ts";
import type { Work } from "../../clock/work.ts";
import type { Logger } from "../../logs/logger.ts";
import type { FunctionHost } from "../function/host.ts";
import { unknownResource } from "../unknown-resource.ts";
import { bodyCheck } from "./schema.ts";
import {
  type Enqueued,
  type Outcome,
  type OutgoingMessage,
  type QueuePolicy,
  type QueueStats,
  QueueStore,
  type SettleResult,
} from "./store.ts";

/** A message in a dead-letter queue, as tests and tools inspect it. */
export interface DeadLetteredMessage {
  id: string;
  body: unknown;
  /** The queue it died in; for a bus or schedule delivery, its route (`orders/paid → function fulfil`). */
  queue: string;
  /** Its deliveries there. */
  attempts: number;
  /** When it was first sent. */
  firstSeen: Date;
  /** Why its last delivery failed: the thrown error, `timed out after …`, or a visibility timeout. */
  lastError: string;
}

/** `sendBatch` takes at most this many messages, as Workers' Queues and SQS do. */
export const maxBatchSend = queueLimits.maxBatchSend;

/** A message as a consumer gets it, leased. */
export interface LeasedMessage {
  id: string;
  body: Uint8Array;
  format: "json" | "bytes";
  attempts: number;
  firstSeen: number;
}

/**
 * What takes a queue's messages: a function's `queue` handler for the app's queues, or,
 * for a delivery queue, a bus or schedule handing an event or tick to one target.
 */
export interface Consumer {
  batchSize: number;
  /** Ms a partial batch waits to fill. */
  maxBatchWait: number;
  /** Most batches in flight at once. */
  concurrency: number;
  /** Whether it can take a batch now (its function is running). */
  ready(): boolean;
  /** Delivers a leased batch; resolves with what to do with each message. Never rejects. */
  deliver(messages: readonly LeasedMessage[]): Promise<Outcome[]>;
}

/**
 * A queue the app does not declare: one route of a rule or schedule to one target, so
 * that deliveries to functions get the queues' durability, retries and dead letters.
 */
export interface DeliveryQueue {
  /** The route's key, never a valid queue name: `orders_paid_function_fulfil` (core's `deliveryRoute`). */
  name: string;
  /** The route as logs, dead letters and `nimbus queues` show it: `orders/paid → function fulfil`. */
  label: string;
  policy: QueuePolicy;
  consumer: Consumer;
  /** What a message is, for the log when it is dead-lettered or dropped: `event 5b1e… (OrderPaid)`. */
  describe(body: Uint8Array): string;
  /** Why there is no dead-letter queue, and how to get one, for the log when a message is dropped. */
  noDeadLetter: string;
}

interface RunningQueue {
  name: string;
  /** The app's queues only; undefined for delivery queues. */
  spec?: QueueSpec;
  /** For delivery queues: the route as people read it. */
  label?: string;
  policy: QueuePolicy;
  consumer?: Consumer;
  /** Checks JSON bodies against the queue's schema, when it has one. */
  check: ReturnType<typeof bodyCheck>;
  /** For delivery queues: how to name a message, and why there is no dead-letter queue. */
  describe?: DeliveryQueue["describe"];
  noDeadLetter?: string;
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
  /** Where deliveries are counted, so tests can wait for them. */
  work: Work;
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
  readonly #deliveries = new Set<Promise<void>>();
  /** Which plugin declared each delivery queue. */
  readonly #owners = new Map<string, "bus" | "schedule">();
  #closed = false;

  constructor(ctx: QueuePluginContext) {
    this.#ctx = ctx;
    this.#store = new QueueStore({ file: join(ctx.stateDir, "queues", "queues.sqlite") });
    const renamed = this.#store.renamedRoutes;
    if (renamed.length > 0) {
      ctx.logger.info(
        `queues: moved the waiting deliveries of ${renamed.length} route${renamed.length === 1 ? "" : "s"} (${renamed.join(", ")}) from their label to their storage key; a state folder of an earlier version opens as before`,
      );
    }
    // What a settle may find undelivered: ready messages whose consumer could not take them
    // when they came (its function was starting). Anything later has a clock wake-up.
    ctx.work.onSettle(() => {
      for (const name of this.#store.readyQueues()) this.#pump(name);
    });
  }

  /** The store, for the bus and schedules: what a put or a tick delivers is stored in one transaction. */
  get store(): QueueStore {
    return this.#store;
  }

  /** Takes the graph's queues (new, changed or removed); messages stay in the store either way. */
  apply(queues: readonly ResourceOf<"queue">[]): void {
    this.#replace(
      (queue) => queue.spec !== undefined,
      queues.map(({ name, spec }) => ({
        name,
        spec,
        policy: {
          visibilityTimeout: spec.visibilityTimeout,
          maxAttempts: spec.delivery.maxAttempts,
          backoff: spec.delivery.backoff,
          deadLetter: spec.deadLetter,
          retention: spec.retention,
        },
        consumer: spec.consumer ? this.#functionConsumer(name, spec.consumer) : undefined,
        check: bodyCheck(name, spec.schema),
      })),
    );
  }

  /** Takes every delivery queue of the bus or of the schedules (`owner`), replacing that owner's previous set. */
  applyDeliveries(owner: "bus" | "schedule", deliveries: readonly DeliveryQueue[]): void {
    this.#store.nameRoutes(deliveries.map(({ name, label }) => ({ key: name, label })));
    this.#replace(
      (queue) => this.#owners.get(queue.name) === owner,
      deliveries.map((delivery) => {
        this.#owners.set(delivery.name, owner);
        return { ...delivery, check: undefined };
      }),
    );
  }

  /** Replaces the queues `mine` selects with `wanted`, keeping the running state of those that stay. */
  #replace(mine: (queue: RunningQueue) => boolean, wanted: readonly Omit<RunningQueue, "running">[]): void {
    const names = new Set(wanted.map((queue) => queue.name));
    for (const [name, queue] of this.#queues) {
      if (mine(queue) && !names.has(name)) {
        queue.wake?.cancel();
        this.#queues.delete(name);
        this.#owners.delete(name);
      }
    }
    for (const next of wanted) {
      const current = this.#queues.get(next.name);
      if (current) Object.assign(current, { ...next, running: current.running });
      else this.#queues.set(next.name, { ...next, running: 0 });
    }
    for (const queue of wanted) this.#pump(queue.name, true);
  }

  /** A queue's consumer: batches to a function's `queue` handler. */
  #functionConsumer(queue: string, spec: QueueConsumerSpec): Consumer {
    return {
      batchSize: spec.batchSize,
      maxBatchWait: spec.maxBatchWait,
      concurrency: spec.concurrency,
      ready: () => this.#ctx.host(spec.function) !== undefined,
      deliver: async (messages) => {
        const host = this.#ctx.host(spec.function);
        if (!host)
          return messages.map(({ id }) => ({ id, retry: { error: `function "${spec.function}" is not running` } }));
        const payload: QueueRunPayload = { queue, messages: [...messages] };
        const result = await host.run("queue", payload, `queue ${queue}: batch of ${messages.length}`);
        const reported = new Map(((result.value as MessageOutcome[] | undefined) ?? []).map((o) => [o.id, o]));
        return messages.map((message): Outcome => {
          const settled = reported.get(message.id);
          if (settled && "ack" in settled) return { id: message.id, ack: true };
          if (settled)
            return { id: message.id, retry: { delay: settled.retry.delay, error: "retried by the consumer" } };
          // Unsettled: acked when the handler returned, retried when it failed.
          return result.ok ? { id: message.id, ack: true } : { id: message.id, retry: { error: result.error } };
        });
      },
    };
  }

  /** The app's queues, by name (delivery queues are not among them). */
  names(): string[] {
    return [...this.#queues.values()]
      .filter((queue) => queue.spec !== undefined)
      .map((queue) => queue.name)
      .sort();
  }

  spec(name: string): QueueSpec | undefined {
    return this.#queues.get(name)?.spec;
  }

  /** Stores messages (all or none) and wakes the queue's consumer. */
  send(name: string, messages: readonly OutgoingMessage[]): string[] {
    this.#require(name);
    if (messages.length === 0) return [];
    if (messages.length > maxBatchSend) {
      throw new NimbusError(
        "NIMBUS_QUEUE_BATCH",
        `queue "${name}": sendBatch takes at most ${maxBatchSend} messages; found ${messages.length}. Send in batches of ${maxBatchSend}.`,
      );
    }
    for (const [index, message] of messages.entries()) this.check(name, message, index);
    const ids = this.#store.send(name, messages, this.#ctx.clock.now());
    this.#pump(name);
    return ids;
  }

  /**
   * Throws what a send of `message` to queue `name` would: too large, a delay out of range,
   * a body its schema refuses. `index` numbers the message in the error.
   */
  check(name: string, message: OutgoingMessage, index = 0): void {
    const queue = this.#require(name);
    const spec = queue.spec!;
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

  /**
   * Stores messages for any queues, delivery queues included, in one transaction (with a
   * schedule's tick, when given), then wakes those queues. The caller has checked them.
   */
  enqueue(items: readonly Enqueued[], tick?: { schedule: string; at: number }): string[] {
    const ids = this.#store.enqueue(items, this.#ctx.clock.now(), tick);
    for (const queue of new Set(items.map((item) => item.queue))) this.#pump(queue);
    return ids;
  }

  stats(name: string): QueueStats {
    this.#require(name);
    return this.#store.stats(name, this.#ctx.clock.now());
  }

  /**
   * The delivery queues of the bus and the schedules that hold anything, by label
   * (`orders/paid → function fulfil`): events and ticks on their way to a target.
   */
  pendingDeliveries(): Record<string, QueueStats> {
    const now = this.#ctx.clock.now();
    const pending: Record<string, QueueStats> = {};
    const labelled = [...this.#owners.keys()].map((name) => [this.#label(name), name] as const);
    for (const [label, name] of labelled.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const stats = this.#store.stats(name, now);
      if (stats.depth + stats.inFlight + stats.delayed + stats.deadLettered > 0) pending[label] = stats;
    }
    return pending;
  }

  /** How people read queue or route `name`: a delivery queue's label, else the name itself. */
  #label(name: string): string {
    return this.#queues.get(name)?.label ?? this.#store.routeLabel(name) ?? name;
  }

  /** What waits in dead-letter queue `name`: each message with where and how it died. */
  deadLettered(name: string, limit?: number): DeadLetteredMessage[] {
    this.#require(name);
    return this.#store.deadLettered(name, limit).map((message) => ({
      id: message.id,
      body: message.format === "json" ? JSON.parse(Buffer.from(message.body).toString("utf8")) : message.body,
      queue: message.deadFrom === undefined ? name : this.#label(message.deadFrom),
      attempts: message.deadAttempts ?? message.attempts,
      firstSeen: new Date(message.firstSeen),
      lastError: message.lastError ?? "",
    }));
  }

  /** Moves every message in dead-letter queue `name` back to the queue it died in. */
  redrive(name: string): Record<string, number> {
    this.#require(name);
    const moved = this.#store.redrive(name, this.#ctx.clock.now());
    const counts: Record<string, number> = {};
    for (const [source, count] of Object.entries(moved)) {
      const label = this.#label(source);
      counts[label] = (counts[label] ?? 0) + count;
      this.#ctx.logger.info(`queue ${name}: redrove ${count} message${count === 1 ? "" : "s"} back to ${label}`);
      if (this.#queues.has(source)) this.#pump(source, true);
    }
    return counts;
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
    await Promise.all(this.#deliveries);
    this.#store.close();
  }

  /** Throws, naming the app's queues, when there is no queue `name`. */
  assertQueue(name: string): void {
    this.#require(name);
  }

  #require(name: string): RunningQueue {
    const queue = this.#queues.get(name);
    if (!queue?.spec) {
      throw unknownResource("queue", name, this.names());
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
    const label = queue.label ?? name;
    const expired = this.#store.expireLeasesDetailed(name, now, queue.policy);
    for (const id of expired.retried) {
      this.#ctx.logger.warn(
        `queue ${label}: message ${id} was not settled within its visibility timeout; it will be delivered again`,
      );
    }
    this.#logDeadEnds(queue, expired);
    const old = this.#store.dropExpired(name, now, queue.policy);
    if (old.length) this.#ctx.logger.warn(`queue ${label}: dropped ${old.length} message(s) older than its retention`);
  }

  #start(queue: RunningQueue, now: number): void {
    const name = queue.name;
    const consumer = queue.consumer;
    if (!consumer?.ready()) return;
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
      const delivery = this.#deliver(queue, consumer, lease, messages).finally(() => {
        queue.running--;
        this.#deliveries.delete(delivery);
        this.#pump(name);
      });
      this.#deliveries.add(delivery);
      this.#ctx.work.track(delivery);
    }
  }

  /** Sets the queue's one wake-up for the next thing due: a delayed message, a back-off, a lease, a batch wait. */
  #schedule(queue: RunningQueue): void {
    const now = this.#ctx.clock.now();
    const consumer = queue.consumer;
    // Without a consumer nothing is delivered, so only retention can fall due.
    const candidates = [this.#store.nextExpiry(queue.name, queue.policy)];
    if (consumer) candidates.push(this.#store.nextDue(queue.name, now));
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
    consumer: Consumer,
    lease: string,
    messages: readonly LeasedMessage[],
  ): Promise<void> {
    const outcomes = await consumer.deliver(
      messages.map(({ id, body, format, attempts, firstSeen }) => ({ id, body, format, attempts, firstSeen })),
    );
    this.#logDeadEnds(queue, this.#store.settle(lease, outcomes, this.#ctx.clock.now(), queue.policy));
  }

  #logDeadEnds(queue: RunningQueue, result: Pick<SettleResult, "deadLettered" | "dropped" | "bodies">): void {
    const { maxAttempts, deadLetter } = queue.policy;
    const what = (id: string) => {
      const body = result.bodies.get(id);
      return queue.describe && body ? queue.describe(body) : `message ${id}`;
    };
    // A delivery queue's message can also end before its last attempt, refused for good.
    const failed = queue.describe ? "could not be delivered" : `failed ${times(maxAttempts)}`;
    for (const id of result.deadLettered) {
      this.#ctx.logger.warn(`queue ${queue.label ?? queue.name}: ${what(id)} ${failed}; moved to "${deadLetter}"`);
    }
    for (const id of result.dropped) {
      this.#ctx.logger.error(
        `queue ${queue.label ?? queue.name}: ${what(id)} ${failed} and ${queue.noDeadLetter ?? "the queue has no dead-letter queue"}; it was dropped`,
      );
    }
  }
}

function times(count: number): string {
  return count === 1 ? "once" : `${count} times`;
}
