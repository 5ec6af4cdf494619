/**
 * The operator's view of an app's queues on JetStream: stats, the dead letters waiting in
 * a dead-letter queue, and redrive. These read and write other streams than a function
 * links (a queue's dead-letter queue, its consumer's state, the source of every dead
 * letter), so they run on the admin's connection (core's `natsPermissions(...).admin`),
 * never in a function host: `JetStreamQueues` is what a function runs, with its own
 * user's rights.
 *
 * Stats come from the stream's per-subject counts and the consumer's ack-pending count;
 * `deadLettered` from the dead-letter queue's `*.dead.<stream>` subjects. Redrive reads
 * dead letters with message gets (`next_by_subj`), up to the last one there when it
 * started, and takes each back where it died, then deletes it from the dead-letter
 * stream:
 *
 * - one that died in a stream (a queue, or the delivery queue of a rule or schedule to a
 *   function) goes to that stream's `ready.new` with attempts 0;
 * - one a rule's queue target refused (its slot is named after the route,
 *   dead-letters.ts) is sent to that queue again, with a send's checks: refused again, it
 *   goes straight back to the dead-letter queue, 1 attempt, the new refusal its last error;
 * - one a rule's bus target refused is put back on that bus's stream, marked with the
 *   rule (`Nimbus-Redriven-By`): the control role's router takes it there as that rule's
 *   target, counting buses afresh from the rule's bus, and a refusal sends it back
 *   (semantics buses/retries/5).
 */
import {
  type ConsumerInfo,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type MsgRequest,
} from "@nats-io/jetstream";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import {
  busNames,
  deliveryNames,
  deliveryQueues,
  deliveryRoute,
  type Graph,
  NimbusError,
  type QueueConsumerSpec,
  type QueueSpec,
  type QueueStreamNames,
  queueNames,
  type ResourceRef,
  resourcesOf,
  type SubjectOptions,
} from "@nimbus/core";
import { JetStreamQueues } from "./queue.ts";
import { type Carried, deadSource, fromHeaders, header, toHeaders } from "./queue-headers.ts";

/** A rule's route to a queue or bus: no stream of its own, only the slot its refusals wait in. */
interface RefusedRoute {
  /** `<bus>/<rule>` */
  rule: string;
  target: ResourceRef;
  label: string;
}

export interface QueueStats {
  /** Deliverable now. */
  depth: number;
  /** Delivered, not settled yet. */
  inFlight: number;
  /** Waiting for a delay or a back-off. */
  delayed: number;
  /** Died in this queue and now in its dead-letter queue. */
  deadLettered: number;
}

/** A message in a dead-letter queue, as tools and tests inspect it. */
export interface DeadLetteredMessage {
  id: string;
  /** The JSON value sent, or the bytes. */
  body: unknown;
  /** The queue it died in, or its route's label (`orders/paid → function fulfil`). */
  queue: string;
  /** Its deliveries there. */
  attempts: number;
  /** When it was first sent. */
  firstSeen: Date;
  lastError: string;
}

export interface QueueAdminOptions {
  /** An open connection of the admin user; the tools do not close it. */
  nc: NatsConnection;
  /** The app's graph: its queues, and the rules and schedules whose delivery queues a dead letter may come from. */
  graph: Graph;
  /**
   * Put before every stream name, as the hosts were given it (`NIMBUS_PREFIX`).
   * @default none
   * @example "prod-shop"
   */
  prefix?: string;
}

/** Stats, dead letters and redrive of an app's queues, on the admin's connection. */
export class QueueAdmin {
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #options: SubjectOptions;
  readonly #queues: ReadonlyMap<string, QueueSpec>;
  /** Every stream of the queue machinery by stream name: where a dead letter goes back to. */
  readonly #streams: ReadonlyMap<string, QueueStreamNames>;
  /** The routes of rules to queues and buses, by the slot name of their refusals. */
  readonly #refused: ReadonlyMap<string, RefusedRoute>;
  /** Sends and refusals, with the driver's checks and headers. */
  readonly #queuesDriver: JetStreamQueues;

  private constructor(options: QueueAdminOptions, jsm: JetStreamManager, driver: JetStreamQueues) {
    this.#js = jetstream(options.nc);
    this.#jsm = jsm;
    this.#queuesDriver = driver;
    this.#options = options.prefix ? { prefix: options.prefix } : {};
    this.#queues = new Map(resourcesOf(options.graph, "queue").map((queue) => [queue.name, queue.spec]));
    const streams = new Map<string, QueueStreamNames>();
    for (const queue of this.#queues.keys()) {
      const names = queueNames(queue, this.#options);
      streams.set(names.stream, names);
    }
    for (const delivery of deliveryQueues(options.graph, this.#options)) {
      streams.set(delivery.names.stream, delivery.names);
    }
    this.#streams = streams;
    const refused = new Map<string, RefusedRoute>();
    for (const rule of resourcesOf(options.graph, "rule")) {
      for (const target of rule.spec.targets) {
        if (target.kind === "function") continue;
        const route = deliveryRoute(rule.name, target);
        refused.set(deliveryNames(route.key, this.#options).stream, { rule: rule.name, target, label: route.label });
      }
    }
    this.#refused = refused;
  }

  static async open(options: QueueAdminOptions): Promise<QueueAdmin> {
    const driver = await JetStreamQueues.open({
      nc: options.nc,
      queues: Object.fromEntries(resourcesOf(options.graph, "queue").map((queue) => [queue.name, queue.spec])),
      prefix: options.prefix,
    });
    return new QueueAdmin(options, await jetstreamManager(options.nc), driver);
  }

  async stats(queue: string): Promise<QueueStats> {
    const spec = this.#spec(queue);
    const names = queueNames(queue, this.#options);
    const counts = await this.#subjectCounts(names.stream, names.subjects);
    const ready = names.readyFilter.slice(0, -1);
    const delayed = names.delayedFilter.slice(0, -1);
    let readyCount = 0;
    let delayedCount = 0;
    for (const [subject, count] of counts) {
      if (subject.startsWith(ready)) readyCount += count;
      else if (subject.startsWith(delayed)) delayedCount += count;
    }
    const consumer = spec.consumer;
    const info = consumer
      ? await this.#jsm.consumers.info(names.stream, names.consumer).catch(() => undefined)
      : undefined;
    const filling = info !== undefined && fillingBatch(info, consumer!);
    const inFlight = info && !filling ? info.num_ack_pending : 0;
    // What the consumer has not delivered yet: after a kill -9, nats-server 2.9 may keep
    // messages acked just before it in the stream (it deletes lazily), which a subject
    // count would go on reporting as waiting although they are never delivered again.
    const depth = info ? info.num_pending + (filling ? info.num_ack_pending : 0) : readyCount;
    let deadLettered = 0;
    if (spec.deadLetter) {
      const dead = queueNames(spec.deadLetter, this.#options);
      for (const [, count] of await this.#subjectCounts(dead.stream, dead.deadLetterFilter(names.stream))) {
        deadLettered += count;
      }
    }
    return { depth, inFlight, delayed: delayedCount, deadLettered };
  }

  /** The messages that died elsewhere and wait in `deadLetter`, oldest first. */
  async deadLettered(deadLetter: string, limit = 100): Promise<DeadLetteredMessage[]> {
    this.#spec(deadLetter);
    const found: DeadLetteredMessage[] = [];
    await this.#eachDead(deadLetter, async (msg, carried) => {
      if (found.length >= limit) return false;
      found.push({
        id: carried.id,
        body: carried.format === "json" ? JSON.parse(new TextDecoder().decode(msg.data)) : new Uint8Array(msg.data),
        queue: carried.deadFrom ?? deadLetter,
        attempts: carried.deadAttempts ?? 0,
        firstSeen: new Date(carried.firstSeen),
        lastError: carried.lastError ?? "",
      });
      return true;
    });
    return found;
  }

  /**
   * Moves every dead letter of `deadLetter` back to the queue (or route) it died in,
   * deliverable at once with attempts starting again at 1; returns how many went to each,
   * by the name `deadLettered` shows (redelivery/7, buses/retries/5). A message sent to
   * `deadLetter` directly stays, and so does one whose source is no longer in the graph.
   */
  async redrive(deadLetter: string): Promise<Record<string, number>> {
    this.#spec(deadLetter);
    const counts: Record<string, number> = {};
    const { stream } = queueNames(deadLetter, this.#options);
    await this.#eachDead(deadLetter, async (msg, carried, seq) => {
      // Without its chain (and so are the stores below): a redriven message or event
      // starts a new one once delivered (docs/semantics.md "Recursive loops" 6).
      const back: Carried = {
        id: carried.id,
        format: carried.format,
        firstSeen: carried.firstSeen,
        attempts: 0,
        copy: carried.copy + 1,
        notBefore: 0,
      };
      const msgID = `${back.id}.${back.copy}`;
      const source = this.#streams.get(msg.source);
      const refused = this.#refused.get(msg.source);
      if (source) {
        await this.#js.publish(source.ready, msg.data, { headers: toHeaders(back), msgID });
      } else if (refused?.target.kind === "queue") {
        await this.#toQueue(deadLetter, refused, msg, carried, msgID);
      } else if (refused?.target.kind === "bus") {
        const h = natsHeaders();
        h.set(header.redrivenBy, refused.rule);
        // A delivery's 24 h still count from the event's put.
        h.set(header.firstSeen, String(carried.firstSeen));
        await this.#js.publish(busNames(refused.target.name, this.#options).subject, msg.data, { headers: h, msgID });
      } else {
        return true;
      }
      // Gone already when its consumer acked it meanwhile: it is moved all the same, at least once.
      await this.#jsm.streams.deleteMessage(stream, seq, false).catch(() => false);
      const label = carried.deadFrom ?? refused?.label ?? msg.source;
      counts[label] = (counts[label] ?? 0) + 1;
      return true;
    });
    return counts;
  }

  /** Sends a refused event to its queue target again; refused again, back to `deadLetter` at once (buses/retries/3). */
  async #toQueue(
    deadLetter: string,
    route: RefusedRoute,
    msg: { data: Uint8Array; source: string },
    carried: Carried,
    msgID: string,
  ): Promise<void> {
    const message = { format: carried.format, body: msg.data, msgID };
    try {
      this.#queuesDriver.check(route.target.name, [message]);
    } catch (error) {
      const letter = {
        id: carried.id,
        copy: carried.copy + 1,
        body: msg.data,
        firstSeen: carried.firstSeen,
        msgID,
        from: route.label,
        source: msg.source,
        error: (error as Error).message,
      };
      await this.#queuesDriver.deadLetter(deadLetter, [letter]);
      return;
    }
    await this.#queuesDriver.sendWithIds(route.target.name, [message]);
  }

  #spec(queue: string): QueueSpec {
    const spec = this.#queues.get(queue);
    if (!spec) {
      throw new NimbusError(
        "NIMBUS_QUEUE_UNKNOWN",
        `queue "${queue}" is not in the app's graph (known: ${[...this.#queues.keys()].join(", ") || "none"}).`,
      );
    }
    return spec;
  }

  /** Per-subject message counts of a stream, under `filter`; none when the stream is missing. */
  async #subjectCounts(stream: string, filter: string): Promise<[string, number][]> {
    const info = await this.#jsm.streams.info(stream, { subjects_filter: filter }).catch(() => undefined);
    return Object.entries(info?.state.subjects ?? {});
  }

  /**
   * Calls `visit` on each dead letter of `deadLetter` in stream order, until it returns
   * false, up to the last message stored when it started: one `visit` stores again
   * (a refusal sent back) is not visited a second time.
   */
  async #eachDead(
    deadLetter: string,
    visit: (msg: { data: Uint8Array; source: string }, carried: Carried, seq: number) => Promise<boolean>,
  ): Promise<void> {
    const names = queueNames(deadLetter, this.#options);
    const last = (await this.#jsm.streams.info(names.stream)).state.last_seq;
    let seq = 1;
    while (seq <= last) {
      // Servers since 2.9 take `next_by_subj` on the (non-direct) get; the client types only list it for direct gets.
      const next = { next_by_subj: names.deadLetterFilter(), seq } as unknown as MsgRequest;
      const stored = await this.#jsm.streams.getMessage(names.stream, next);
      if (!stored || stored.seq > last) return;
      const carried = fromHeaders(stored.header);
      const source = deadSource(names.root, stored.subject) ?? "";
      if (!(await visit({ data: stored.data, source }, carried, stored.seq))) return;
      seq = stored.seq + 1;
    }
  }
}

/**
 * Whether the messages `info` counts as leased are a partial batch its host holds while
 * it waits up to `maxBatchWait` for the rest: they wait, so they count as depth
 * (semantics queues/delivery/7). Told from a running batch by the host's pull waiting on
 * the server with nothing pending; with `concurrency` 1 a host pulls only while no batch
 * runs. With more, a batch filling beside running ones counts as in flight (documented).
 */
export function fillingBatch(info: ConsumerInfo, consumer: QueueConsumerSpec): boolean {
  return (
    consumer.maxBatchWait > 0 &&
    consumer.concurrency === 1 &&
    info.num_pending === 0 &&
    info.num_waiting > 0 &&
    info.num_ack_pending > 0 &&
    info.num_ack_pending < consumer.batchSize
  );
}
