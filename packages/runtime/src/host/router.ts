/**
 * The control role's bus router on JetStream: the durable pull consumer `router` of each
 * bus's stream (core's `busNames`) reads the events put on it, and each event is handed
 * to every matching rule's targets with core's compiled rule index, as the emulator's bus
 * plugin does in a put (docs/semantics.md "Event buses"):
 *
 * - a queue target gets the whole event as one JSON message in the queue's stream, if it
 *   fits the queue's `maxMessageSize` and `schema` (the checks of a send);
 * - a function target gets it through the route's delivery queue, which the function's
 *   host consumes with the bus's delivery policy (deliveries.ts);
 * - a bus target routes it again within the same step, against that bus's rules: a bus
 *   at most once per event, at most 5 buses (a 6th refuses it).
 *
 * Rules are taken in name order, then targets in their order; the stores of one event are
 * published in that order on one connection. A target that refuses the event (a queue it
 * does not fit, a bus whose schema does not name it, a 6th bus) sends it to the bus's
 * dead-letter queue at once, 1 attempt, the refusal as its last error; without one it is
 * dropped and logged as an error.
 *
 * Exactly-once storing within the duplicate window: every publish carries the JetStream
 * message id `<event id>:<route key>`, and the bus message is acked (confirmed by the
 * server) only once every publish was. A running router renews its lease on the events
 * in hand (`+WPI`) every half ack wait, for at most `busLimits.forwardTimeout` (30 s) an
 * event; one that dies has its events delivered again after the consumer's ack wait
 * (5 s, `routerAckWait`), and the repeated publishes are
 * dropped by the target streams' duplicate window (60 s; 120 s for buses), so no delivery
 * is made twice unless the router was stuck longer than the window (then at least once).
 * A publish that fails naks the event, which is routed again a second later.
 *
 * Every store goes through the queue driver (`sendWithIds`, `deadLetter`): a send's
 * checks and headers, with the router's message ids. A refusal waits in the dead-letter
 * queue's slot named after its route (dead-letters.ts), which `QueueAdmin.redrive` reads
 * to take it back to the one target it died at: a queue target gets it as a send, a bus
 * target on its stream marked `Nimbus-Redriven-By: <rule>`, and the router takes such an
 * event to that bus as the rule's target, the buses counted afresh from the rule's bus,
 * a refusal back to the rule's bus's dead-letter queue (semantics buses/retries/5).
 *
 * An event's `Nimbus-Chain` header (the chain of the invocation that put it, or of the
 * one whose bucket write it notifies) is copied onto every delivery and dead letter it
 * stores, the chain unchanged: a rule, a queue or bus target and a dead letter do not
 * deepen it (docs/semantics.md "Recursive loops" 5); the function host does, on delivery.
 * A redriven event has none: it starts a new chain.
 *
 * Events are dropped, and logged, once 24 h (`busLimits.maxEventAge`) have passed since
 * they were put (the stream's timestamp; a redriven event's first put), as a delivery not
 * done by then.
 */
import { type ConsumerMessages, type JetStreamClient, type JsMsg, jetstream } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  type BusSpec,
  busLimits,
  busNames,
  type Chain,
  type CompiledRules,
  compileRules,
  cycleBeforeEntering,
  deliveryNames,
  deliveryRoute,
  type EventPattern,
  type Graph,
  type NimbusEvent,
  parseChain,
  type ResourceRef,
  resourcesOf,
} from "@nimbus/core";
import { type DetailCheck, detailCheck } from "@nimbus/core/bus-entries";
import { deliveryQueuePlans, openDeliveries } from "./deliveries.ts";
import { routerAckWait } from "./provision.ts";
import type { IdentifiedMessage, JetStreamQueues, RefusedMessage } from "./queue.ts";
import { header } from "./queue-headers.ts";

/** Ms before an event whose stores failed is routed again. */
const retryAfter = 1_000;
/**
 * Events a router holds unacked at once, per bus, all of them being routed together: each
 * event's stores are published in order as it comes (so events are stored in put order),
 * and their store acknowledgements and the bus acks are awaited side by side, not one
 * event's round trips after the other's.
 */
const prefetch = 32;

interface RoutedBus {
  name: string;
  spec: BusSpec;
  rules: CompiledRules;
  /** Each rule's targets, by rule name (`<bus>/<rule>`). */
  targets: Map<string, ResourceRef[]>;
  check: DetailCheck;
}

/**
 * One store an event causes: a message in a queue the driver knows (an app queue, or a
 * delivery queue by its route's label), or a refusal in the bus's dead-letter queue.
 */
type Store = { queue: string; message: IdentifiedMessage } | { deadLetter: string; letter: RefusedMessage };

export interface BusRouterOptions {
  /** An open connection; the router does not close it. */
  nc: NatsConnection;
  graph: Graph;
  prefix?: string;
  /** Info lines (an event and the rules it matched). */
  info: (line: string) => void;
  warn: (line: string) => void;
  error: (line: string) => void;
  /**
   * Called after an event's stores were acknowledged, before the event is acked; for
   * tests that end the router in between, as a crash would.
   */
  beforeAck?: (event: NimbusEvent) => Promise<void>;
}

/** Routes the events of every bus of the graph; `stop()` ends it once the events in hand are done. */
export class BusRouter {
  readonly #options: BusRouterOptions;
  readonly #js: JetStreamClient;
  readonly #buses = new Map<string, RoutedBus>();
  readonly #queues: JetStreamQueues;
  readonly #subjects: { prefix?: string };
  readonly #consuming: { messages: ConsumerMessages; loop: Promise<void> }[] = [];
  readonly #ended = new Set<string>();
  #stopping = false;

  private constructor(options: BusRouterOptions, queues: JetStreamQueues) {
    this.#options = options;
    this.#js = jetstream(options.nc);
    this.#subjects = options.prefix ? { prefix: options.prefix } : {};
    this.#queues = queues;
    const rules = resourcesOf(options.graph, "rule").sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const bus of resourcesOf(options.graph, "bus")) {
      const own = rules.filter((rule) => rule.spec.bus === bus.name);
      this.#buses.set(bus.name, {
        name: bus.name,
        spec: bus.spec,
        rules: compileRules(own.map((rule) => ({ name: rule.name, pattern: rule.spec.pattern as EventPattern }))),
        targets: new Map(own.map((rule) => [rule.name, rule.spec.targets])),
        check: detailCheck(bus.name, bus.spec.schema),
      });
    }
  }

  /** Attaches to each bus's `router` durable (provisioned beforehand) and starts routing. */
  static async start(options: BusRouterOptions): Promise<BusRouter> {
    // Stores go through the queue driver: a send's checks and headers, with the router's message ids.
    const queues = await openDeliveries({
      nc: options.nc,
      plans: deliveryQueuePlans(options.graph, options.prefix),
      queues: Object.fromEntries(resourcesOf(options.graph, "queue").map((queue) => [queue.name, queue.spec])),
      prefix: options.prefix,
      log: options.warn,
    });
    const router = new BusRouter(options, queues);
    for (const bus of router.#buses.values()) await router.#attach(bus);
    return router;
  }

  /** The buses whose router stopped reading on its own (their consumer was deleted): the role is not ready. */
  get ended(): string[] {
    return [...this.#ended].sort();
  }

  /** Stops pulling; resolves once the event in hand of each bus was routed (or given up). */
  async stop(): Promise<void> {
    this.#stopping = true;
    for (const { messages } of this.#consuming) messages.stop();
    await Promise.all(this.#consuming.map(({ loop }) => loop));
  }

  async #attach(bus: RoutedBus): Promise<void> {
    const names = busNames(bus.name, this.#subjects);
    const consumer = await this.#js.consumers.get(names.stream, names.router);
    const messages = await consumer.consume({ max_messages: prefetch });
    const loop = (async () => {
      const routing = new Set<Promise<void>>();
      // The events in hand, with when each came: their leases are renewed while they are routed.
      const inHand = new Map<JsMsg, number>();
      const renewing = setInterval(() => renewLeases(inHand), routerAckWait / 2).unref();
      try {
        for await (const msg of messages) {
          // #handle publishes the event's stores before its first await: they leave in put order.
          const handled = this.#handle(bus, msg);
          routing.add(handled);
          inHand.set(msg, Date.now());
          void handled.finally(() => {
            routing.delete(handled);
            inHand.delete(msg);
          });
          if (routing.size >= prefetch) await Promise.race(routing);
        }
      } finally {
        await Promise.all(routing);
        clearInterval(renewing);
      }
      if (!this.#stopping) throw new Error(`its consumer ${names.router} on stream ${names.stream} went away`);
    })().catch((error: unknown) => {
      this.#ended.add(bus.name);
      this.#options.error(`bus ${bus.name}: the router stopped reading: ${(error as Error).message}`);
    });
    this.#consuming.push({ messages, loop });
  }

  /** Routes one event put on `bus`, then acks it; naks it when a store failed. */
  async #handle(bus: RoutedBus, msg: JsMsg): Promise<void> {
    let event: NimbusEvent;
    try {
      event = msg.json<NimbusEvent>();
    } catch {
      this.#options.error(`bus ${bus.name}: message ${msg.seq} of its stream is not an event (not JSON); dropped`);
      await msg.ackAck().catch(() => {});
      return;
    }
    // A redriven event keeps its put time: a delivery's 24 h count from the put (semantics buses/retries/6).
    const putAt =
      Number(msg.headers?.get(header.firstSeen) || 0) || Math.floor(Number(msg.info.timestampNanos) / 1_000_000);
    if (Date.now() - putAt > busLimits.maxEventAge) {
      this.#options.error(
        `bus ${bus.name}: event ${event.id} (${event["detail-type"]} from ${event.source}) dropped: it was put at ${new Date(putAt).toISOString()}, more than 24h ago, and not delivered since`,
      );
      await msg.ackAck().catch(() => {});
      return;
    }
    try {
      const chain = parseChain(msg.headers?.get(header.chain));
      const stores = this.#redriven(bus, msg, event, putAt) ?? this.route(bus.name, event, putAt, [], "", chain);
      // Issued in order on one connection, so they are stored in that order; acked together.
      await Promise.all(
        stores.map((store) =>
          "queue" in store
            ? this.#queues.sendWithIds(store.queue, [store.message])
            : this.#queues.deadLetter(store.deadLetter, [store.letter]),
        ),
      );
      await this.#options.beforeAck?.(event);
      await msg.ackAck();
    } catch (error) {
      this.#options.warn(
        `bus ${bus.name}: event ${event.id} could not be stored for all its targets, trying again: ${(error as Error).message}`,
      );
      msg.nak(retryAfter);
    }
  }

  /**
   * The stores of an event `QueueAdmin.redrive` put back on `bus`, the target it was
   * refused at: taken there as by its rule (a refusal goes back to that rule's bus's
   * dead-letter queue), the buses counted from the rule's bus (semantics buses/retries/5).
   * Message ids end with the bus message's sequence, so a redrive is not taken for a
   * repeat of the first routing. Undefined for an event put by a `put`.
   */
  #redriven(bus: RoutedBus, msg: JsMsg, event: NimbusEvent, putAt: number): Store[] | undefined {
    const rule = msg.headers?.get(header.redrivenBy);
    if (!rule) return undefined;
    const from = resourcesOf(this.#options.graph, "rule").find((resource) => resource.name === rule);
    const target = from?.spec.targets.find((ref) => ref.kind === "bus" && ref.name === bus.name);
    if (!from || !target) {
      this.#options.warn(
        `bus ${bus.name}: event ${event.id} was redriven for rule ${rule}, which no longer targets this bus; routed as put here`,
      );
      return this.route(bus.name, event, putAt);
    }
    const body = new TextEncoder().encode(JSON.stringify(event));
    return this.#target(from.spec.bus, rule, target, event, body, putAt, [], `:${msg.seq}`);
  }

  /**
   * What delivering `event` on bus `name` stores: a message per matching rule and target.
   * `path` holds the buses the event came through, so a cycle of bus targets ends; every
   * store carries `chain`, the event's.
   */
  route(
    name: string,
    event: NimbusEvent,
    putAt: number,
    path: readonly string[] = [],
    idSuffix = "",
    chain?: Chain,
  ): Store[] {
    const bus = this.#buses.get(name)!;
    const matched = bus.rules.match(event);
    const via = path.length ? ` (forwarded from ${path.join(" → ")})` : "";
    this.#options.info(
      `bus ${name}: event ${event.id} (${event["detail-type"]} from ${event.source})${via} matched ${matched.length ? matched.join(", ") : "no rule"}`,
    );
    const body = new TextEncoder().encode(JSON.stringify(event));
    const stores: Store[] = [];
    for (const rule of matched) {
      for (const target of bus.targets.get(rule) ?? []) {
        stores.push(...this.#target(name, rule, target, event, body, putAt, path, idSuffix, chain));
      }
    }
    return stores;
  }

  /**
   * What handing `event` from rule `rule` of bus `name` to `target` stores, or the
   * refusal's dead letter. `idSuffix` ends every message id (a redrive's); `chain` is the event's.
   */
  #target(
    name: string,
    rule: string,
    target: ResourceRef,
    event: NimbusEvent,
    body: Uint8Array,
    putAt: number,
    path: readonly string[],
    idSuffix = "",
    chain?: Chain,
  ): Store[] {
    const bus = this.#buses.get(name)!;
    const route = deliveryRoute(rule, target);
    const msgID = `${event.id}:${route.key}${idSuffix}`;
    const carried = chain ? { chain } : {};
    const message: IdentifiedMessage = { format: "json", body, msgID, firstSeen: putAt, ...carried };
    try {
      if (target.kind === "function") return [{ queue: route.label, message }];
      if (target.kind === "queue") {
        // A queue's retention counts from the store, as a send's.
        const stored = { format: "json", body, msgID, ...carried } as const;
        this.#queues.check(target.name, [stored]);
        return [{ queue: target.name, message: stored }];
      }
      return this.#toBus(target.name, event, putAt, [...path, name], idSuffix, chain);
    } catch (error) {
      // A target that refuses the event never will: it goes to the dead-letter queue at once.
      const reason = (error as Error).message;
      const described = `event ${event.id} could not be delivered by ${rule} to ${target.kind} ${target.name}`;
      if (bus.spec.deadLetter === null) {
        this.#options.error(
          `bus ${name}: ${described} and the bus has no dead-letter queue, so it was dropped: ${reason}`,
        );
        return [];
      }
      this.#options.warn(`bus ${name}: ${described}; moved to "${bus.spec.deadLetter}": ${reason}`);
      // Its slot is named after the route, which QueueAdmin.redrive reads to take it back to this target.
      const source = deliveryNames(route.key, this.#subjects).stream;
      return [
        {
          deadLetter: bus.spec.deadLetter,
          letter: { body, firstSeen: putAt, msgID, from: route.label, source, error: reason, ...carried },
        },
      ];
    }
  }

  #toBus(
    name: string,
    event: NimbusEvent,
    putAt: number,
    path: readonly string[],
    idSuffix: string,
    chain: Chain | undefined,
  ): Store[] {
    const cycle = cycleBeforeEntering(path, name, event.id);
    if (cycle) {
      this.#options.warn(cycle);
      return [];
    }
    const target = this.#buses.get(name)!;
    target.check({ source: event.source, detailType: event["detail-type"], detail: event.detail }, 0);
    return this.route(name, event, putAt, path, idSuffix, chain);
  }
}

/**
 * Restarts the ack wait of each event in hand, for at most `busLimits.forwardTimeout`
 * since it came: an event a router is stuck on longer is given up, to be routed again.
 */
function renewLeases(inHand: Map<JsMsg, number>): void {
  const now = Date.now();
  for (const [msg, since] of inHand) {
    if (now - since >= busLimits.forwardTimeout) continue;
    try {
      msg.working();
    } catch {
      // The connection is closed or draining: the event comes again after its ack wait, as from a router that died.
    }
  }
}
