import {
  type Graph,
  NimbusError,
  parseChain,
  type QueueConsumerSpec,
  type QueueSpec,
  type ResourceOf,
  resourcesOf,
} from "@nimbus/core";
import { bodyCheck } from "@nimbus/runtime/target";
import { z } from "zod";
import type { Clock } from "../../clock/clock.ts";
import type { Work } from "../../clock/work.ts";
import type { Logger } from "../../logs/logger.ts";
import type { Plugin, Service } from "../plugin.ts";
import type { Consumer, DeliveryQueue } from "./consumer.ts";
import { DeliveryLoop } from "./delivery-loop.ts";
import { type DeliveryOwner, RunningQueues } from "./queues.ts";
import { checkBatch, checkMessage } from "./send-checks.ts";
import { type Enqueued, type OutgoingMessage, type QueueStats, QueueStore, queueStoreFile } from "./store.ts";

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

export interface QueuePluginContext {
  stateDir: string;
  clock: Clock;
  /** Where deliveries are counted, so tests can wait for them. */
  work: Work;
  logger: Logger;
  /** The consumer of an app's queue (the queue → function pairing); without it, the queue's messages wait. */
  consumer?: (queue: string, spec: QueueConsumerSpec) => Consumer;
}

/** Messages a worker leaves to the emulator (a queue with a schema), checked at the boundary: worker messages can be forged. */
const wireMessagesSchema = z.object({
  messages: z.array(
    z.object({ format: z.enum(["json", "bytes"]), body: z.instanceof(Uint8Array), delay: z.number().optional() }),
  ),
  /** The sending invocation's chain, as core's `formatChain` writes it. */
  chain: z.string().optional(),
});

/** What a worker says after it stored a send (worker-sends.ts), checked at the boundary too. */
const sentSchema = z.object({ at: z.number(), delayed: z.boolean() });

/**
 * Queues in the emulator: messages durable in SQLite under `<state>/queues/`, delivered
 * to each queue's consumer in batches, at least once, with the retry, visibility-timeout
 * and dead-letter rules of docs/semantics.md. Time comes from the emulator's clock, so a
 * manual clock drives every retry, delay and timeout.
 */
export class QueuePlugin implements Plugin {
  readonly kind = "queue";
  readonly stateEntries = ["queues"];
  readonly #ctx: QueuePluginContext;
  readonly #store: QueueStore;
  readonly #queues = new RunningQueues();
  readonly #loop: DeliveryLoop;

  readonly services: Readonly<Record<string, Service>> = {
    // A send to a queue with a schema, which the worker leaves to the emulator: zod stays out of workers.
    send: async ({ from, resource, args }: { from: string; resource: string; args: unknown }) => {
      const parsed = wireMessagesSchema.safeParse(args);
      if (!parsed.success) {
        throw new NimbusError(
          "NIMBUS_QUEUE_BODY",
          `queue "${resource}": function "${from}" sent messages the emulator cannot read`,
        );
      }
      const chain = parseChain(parsed.data.chain);
      return this.send(
        resource,
        parsed.data.messages.map((message) => (chain ? { ...message, chain } : message)),
      );
    },
    // A function's worker stores its sends itself, in this store, then says so: the queue is woken here.
    sent: async ({ resource, args }: { resource: string; args: unknown }) => {
      const parsed = sentSchema.safeParse(args);
      const queue = this.#queues.get(resource);
      if (!parsed.success || !queue) return;
      // Messages deliverable at once make nothing due before their retention.
      this.#loop.pump(resource, parsed.data.delayed ? {} : { dueFrom: parsed.data.at + queue.policy.retention });
    },
  };

  constructor(ctx: QueuePluginContext) {
    this.#ctx = ctx;
    this.#store = new QueueStore({ file: queueStoreFile(ctx.stateDir) });
    const renamed = this.#store.renamedRoutes;
    if (renamed.length > 0) {
      ctx.logger.info(
        `queues: moved the waiting deliveries of ${renamed.length} route${renamed.length === 1 ? "" : "s"} (${renamed.join(", ")}) from their label to their storage key; a state folder of an earlier version opens as before`,
      );
    }
    this.#loop = new DeliveryLoop({ store: this.#store, queues: this.#queues, ...ctx });
  }

  /** The store, for the bus and schedules: what a put or a tick delivers is stored in one transaction. */
  get store(): QueueStore {
    return this.#store;
  }

  async start(graph: Graph): Promise<void> {
    this.applyQueues(resourcesOf(graph, "queue"));
    for (const warning of unfedQueues(graph)) this.#ctx.logger.warn(warning);
  }

  async apply(graph: Graph): Promise<string[]> {
    this.applyQueues(resourcesOf(graph, "queue"));
    return [];
  }

  /** Takes the graph's queues (new, changed or removed); messages stay in the store either way. */
  applyQueues(queues: readonly ResourceOf<"queue">[]): void {
    // What functions' workers check their sends against, from now on.
    this.#store.publishSpecs(queues);
    const consumer = this.#ctx.consumer;
    const wake = this.#queues.replaceApp(
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
        consumer: spec.consumer && consumer ? consumer(name, spec.consumer) : undefined,
        check: bodyCheck(name, spec.schema),
      })),
    );
    for (const queue of wake) this.#loop.pump(queue.name, { sweep: true });
  }

  /** Takes every delivery queue of the bus or of the schedules (`owner`), replacing that owner's previous set. */
  applyDeliveries(owner: DeliveryOwner, deliveries: readonly DeliveryQueue[]): void {
    this.#store.nameRoutes(deliveries.map(({ name, label }) => ({ key: name, label })));
    for (const queue of this.#queues.replaceDeliveries(owner, deliveries)) this.#loop.pump(queue.name, { sweep: true });
  }

  /** The app's queues, by name (delivery queues are not among them). */
  names(): string[] {
    return this.#queues.names();
  }

  spec(name: string): QueueSpec | undefined {
    return this.#queues.get(name)?.spec;
  }

  /** Stores messages (all or none) and wakes the queue's consumer. */
  send(name: string, messages: readonly OutgoingMessage[]): string[] {
    const queue = this.#queues.require(name);
    if (messages.length === 0) return [];
    checkBatch(name, messages.length);
    for (const [index, message] of messages.entries()) checkMessage(queue, message, index);
    const now = this.#ctx.clock.now();
    const ids = this.#store.send(name, messages, now);
    // Messages deliverable at once make nothing due before their retention.
    const delayed = messages.some((message) => (message.delay ?? 0) > 0);
    this.#loop.pump(name, delayed ? {} : { dueFrom: now + queue.policy.retention });
    return ids;
  }

  /**
   * Throws what a send of `message` to queue `name` would: too large, a delay out of range,
   * a body its schema refuses. `index` numbers the message in the error.
   */
  check(name: string, message: OutgoingMessage, index = 0): void {
    checkMessage(this.#queues.require(name), message, index);
  }

  /**
   * Stores messages for any queues, delivery queues included, in one transaction (with a
   * schedule's tick, when given), then wakes those queues. The caller has checked them.
   */
  enqueue(items: readonly Enqueued[], tick?: { schedule: string; at: number }): string[] {
    const ids = this.#store.enqueue(items, this.#ctx.clock.now(), tick);
    for (const queue of new Set(items.map((item) => item.queue))) this.#loop.pump(queue);
    return ids;
  }

  stats(name: string): QueueStats {
    this.#queues.require(name);
    return this.#store.stats(name, this.#ctx.clock.now());
  }

  /**
   * The delivery queues of the bus and the schedules that hold anything, by label
   * (`orders/paid → function fulfil`): events and ticks on their way to a target.
   */
  pendingDeliveries(): Record<string, QueueStats> {
    const now = this.#ctx.clock.now();
    const pending: Record<string, QueueStats> = {};
    const labelled = this.#queues.deliveries().map((name) => [this.#label(name), name] as const);
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
    this.#queues.require(name);
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
    this.#queues.require(name);
    const moved = this.#store.redrive(name, this.#ctx.clock.now());
    const counts: Record<string, number> = {};
    for (const [source, count] of Object.entries(moved)) {
      const label = this.#label(source);
      counts[label] = (counts[label] ?? 0) + count;
      this.#ctx.logger.info(`queue ${name}: redrove ${count} message${count === 1 ? "" : "s"} back to ${label}`);
      if (this.#queues.get(source)) this.#loop.pump(source, { sweep: true });
    }
    return counts;
  }

  /** Deletes every message in queue `name` (a dead-letter queue's, say), those being delivered too; returns how many. */
  purge(name: string): number {
    this.#queues.require(name);
    const purged = this.#store.purge(name);
    this.#ctx.logger.info(`queue ${name}: purged ${purged} message${purged === 1 ? "" : "s"}`);
    return purged;
  }

  /** Empties every queue, forgetting partial-batch waits and wake-ups with it. */
  async reset(): Promise<void> {
    this.#store.clear();
    this.#loop.forget();
  }

  async close(): Promise<void> {
    await this.#loop.close();
    this.#store.close();
  }

  /** Throws, naming the app's queues, when there is no queue `name`. */
  assertQueue(name: string): void {
    this.#queues.require(name);
  }
}

/**
 * A warning for each queue of the app that no function consumes and nothing routes to
 * (no rule or schedule targets it, and it is no queue's or bus's dead-letter queue):
 * whatever is sent to it waits until its retention drops it, usually a forgotten `subscribe()`.
 */
export function unfedQueues(graph: Graph): string[] {
  const fed = new Set(
    graph.edges
      .filter((edge) => edge.kind === "rule-target" || edge.kind === "schedule-target" || edge.kind === "dead-letter")
      .map((edge) => edge.to),
  );
  const senders = (queue: string) =>
    resourcesOf(graph, "function")
      .filter((fn) => fn.spec.links.some((link) => link.kind === "queue" && link.resource === queue))
      .map((fn) => `"${fn.name}"`);
  return resourcesOf(graph, "queue")
    .filter(({ name, spec }) => !spec.consumer && !fed.has(`queue:${name}`))
    .map(({ name }) => {
      const from = senders(name);
      const sent = from.length
        ? ` (function${from.length === 1 ? "" : "s"} ${from.join(", ")} send${from.length === 1 ? "s" : ""} to it)`
        : "";
      return `queue "${name}" has no consumer and no rule feeds it: messages sent to it${sent} wait until its retention drops them. Subscribe a function to it (\`.subscribe(fn)\` on the queue) or remove it.`;
    });
}
