import {
  busLimits,
  type Chain,
  type CompiledRules,
  compileRules,
  cycleBeforeEntering,
  decideDelivery,
  deliveryRoute,
  type EventPattern,
  type FunctionSpec,
  failedDelivery,
  type Graph,
  type NimbusEvent,
  type PutEntry,
  parseChain,
  type ResourceRef,
  refusal,
  resourcesOf,
  toEvent,
  unknownResource,
} from "@nimbus/core";
import type { Clock } from "../../clock/clock.ts";
import type { Logger } from "../../logs/logger.ts";
import type { Plugin, Service } from "../plugin.ts";
import type { DeliveryQueue } from "../queue/consumer.ts";
import { oneAtATime } from "../queue/one-at-a-time.ts";
import type { Enqueued, OutgoingMessage, QueuePolicy } from "../queue/store.ts";
import { type DetailCheck, detailCheck, readEntries } from "./entries.ts";
import { deliverToTarget, type RuleTargetContext, routeToTarget } from "./rule-target.ts";

interface RunningBus {
  name: string;
  policy: Omit<QueuePolicy, "visibilityTimeout">;
  rules: CompiledRules;
  /** Each rule's targets, by rule name (`<bus>/<rule>`). */
  targets: Map<string, ResourceRef[]>;
  check: DetailCheck;
}

export interface BusPluginContext extends Omit<RuleTargetContext, "forward"> {
  clock: Clock;
  logger: Logger;
}

/**
 * Event buses in the emulator. A `put` turns entries into EventBridge-shaped events,
 * matches each against the bus's rules with the shared compiled index, and stores one
 * message per matching rule and target in one SQLite transaction: straight into a target
 * queue, or into the delivery queue of that rule and target, from which a function's
 * `event` handler gets it with retries and a dead-letter queue (docs/semantics.md).
 * An event for another bus is routed there within the same put.
 */
export class BusPlugin implements Plugin {
  readonly kind = "bus";
  readonly #ctx: BusPluginContext;
  readonly #targets: RuleTargetContext;
  readonly #buses = new Map<string, RunningBus>();

  readonly services: Readonly<Record<string, Service>> = {
    put: async ({ resource, args }: { resource: string; args: unknown }) => {
      const { entries, chain } = (args ?? {}) as { entries?: unknown; chain?: unknown };
      return this.put(resource, entries, parseChain(typeof chain === "string" ? chain : undefined));
    },
  };

  constructor(ctx: BusPluginContext) {
    this.#ctx = ctx;
    this.#targets = { ...ctx, forward: (name, event, path, chain) => this.#toBus(name, event, path, chain) };
  }

  async start(graph: Graph): Promise<void> {
    this.#take(graph);
  }

  async apply(graph: Graph): Promise<string[]> {
    this.#take(graph);
    return [];
  }

  /** Events waiting for delivery are the queues' state: a reset of the queues empties them. */
  async reset(): Promise<void> {}

  async close(): Promise<void> {}

  /** Takes the graph's buses and rules; events waiting for delivery stay in the store. */
  #take(graph: Graph): void {
    const rules = resourcesOf(graph, "rule");
    const functions = new Map(resourcesOf(graph, "function").map((fn) => [fn.name, fn.spec]));
    this.#buses.clear();
    const deliveries: DeliveryQueue[] = [];
    for (const bus of resourcesOf(graph, "bus")) {
      const own = rules.filter((rule) => rule.spec.bus === bus.name);
      const running: RunningBus = {
        name: bus.name,
        policy: {
          maxAttempts: bus.spec.delivery.maxAttempts,
          backoff: bus.spec.delivery.backoff,
          deadLetter: bus.spec.deadLetter,
          retention: busLimits.maxEventAge,
        },
        rules: compileRules(own.map((rule) => ({ name: rule.name, pattern: rule.spec.pattern as EventPattern }))),
        targets: new Map(own.map((rule) => [rule.name, rule.spec.targets])),
        check: detailCheck(bus.name, bus.spec.schema),
      };
      this.#buses.set(bus.name, running);
      for (const rule of own) {
        for (const target of rule.spec.targets) {
          const fn = target.kind === "function" ? functions.get(target.name) : undefined;
          deliveries.push(this.#deliveryQueue(running, rule.name, target, fn));
        }
      }
    }
    this.#ctx.queues.applyDeliveries("bus", deliveries);
  }

  names(): string[] {
    return [...this.#buses.keys()].sort();
  }

  /** Throws, naming the app's buses, when there is no bus `name`. */
  assertBus(name: string): void {
    this.#require(name);
  }

  /**
   * Checks and puts entries on bus `name` (all or none) and returns the events' ids. Every
   * delivery they cause is stored before this returns, carrying `chain`: that of the
   * invocation that put them (docs/semantics.md, "Recursive loops").
   */
  put(name: string, entries: unknown, chain?: Chain): string[] {
    const events = this.events(this.check(name, entries));
    const items = events.flatMap((event) => this.route(name, event, [], chain));
    this.#ctx.queues.enqueue(items);
    return events.map((event) => event.id);
  }

  /** Reads `entries` as bus `name` takes them, or throws naming the first bad entry and field. */
  check(name: string, entries: unknown): PutEntry[] {
    const bus = this.#require(name);
    return readEntries(bus.name, entries, bus.check);
  }

  /** Checked entries as the events rules see, stamped with the emulator's clock. */
  events(entries: readonly PutEntry[]): NimbusEvent[] {
    const now = new Date(this.#ctx.clock.now());
    return entries.map((entry) => toEvent(entry, { now }));
  }

  /**
   * What delivering `event` on bus `name` stores: a message per matching rule and target.
   * `path` holds the buses the event came through, so a cycle of bus targets ends; `chain`
   * is that of the invocation that put it.
   */
  route(name: string, event: NimbusEvent, path: readonly string[] = [], chain?: Chain): Enqueued[] {
    const bus = this.#require(name);
    const matched = bus.rules.match(event);
    const via = path.length ? ` (forwarded from ${path.join(" → ")})` : "";
    this.#ctx.logger.info(
      `bus ${name}: event ${event.id} (${event["detail-type"]} from ${event.source})${via} matched ${matched.length ? matched.join(", ") : "no rule"}`,
    );
    if (matched.length === 0) return [];
    const message: OutgoingMessage = {
      format: "json",
      body: Buffer.from(JSON.stringify(event)),
      ...(chain ? { chain } : {}),
    };
    const items: Enqueued[] = [];
    for (const rule of matched) {
      for (const target of bus.targets.get(rule) ?? []) {
        try {
          items.push(...routeToTarget(this.#targets, rule, target, event, message, [...path, name]));
        } catch (error) {
          // A target that refuses the event never will: it ends now, as a final delivery outcome does.
          const decision = decideDelivery(bus.policy, 1, failedDelivery(refusal(error)));
          const reason = (error as Error).message;
          if (decision.action === "dead-letter") {
            this.#ctx.logger.warn(
              `bus ${name}: event ${event.id} could not be delivered by ${rule} to ${target.kind} ${target.name}; moved to "${decision.queue}": ${reason}`,
            );
            const from = deliveryRoute(rule, target).key;
            items.push({ queue: decision.queue, message, dead: { from, error: reason } });
          } else {
            this.#ctx.logger.error(
              `bus ${name}: event ${event.id} could not be delivered by ${rule} to ${target.kind} ${target.name} and the bus has no dead-letter queue, so it was dropped: ${reason}`,
            );
          }
        }
      }
    }
    return items;
  }

  #toBus(name: string, event: NimbusEvent, path: readonly string[], chain: Chain | undefined): Enqueued[] {
    const cycle = cycleBeforeEntering(path, name, event.id);
    if (cycle) {
      this.#ctx.logger.warn(cycle);
      return [];
    }
    const target = this.#require(name);
    target.check({ source: event.source, detailType: event["detail-type"], detail: event.detail }, 0);
    return this.route(name, event, path, chain);
  }

  /** The delivery queue of one rule and target, with the bus's retry policy. */
  #deliveryQueue(bus: RunningBus, rule: string, target: ResourceRef, fn: FunctionSpec | undefined): DeliveryQueue {
    const route = deliveryRoute(rule, target);
    const timeout = target.kind === "function" ? (fn?.timeout ?? busLimits.forwardTimeout) : busLimits.forwardTimeout;
    return {
      name: route.key,
      label: route.label,
      // A function's own timeout ends a run first; the lease outlives it, so a run is never delivered twice at once.
      policy: { ...bus.policy, visibilityTimeout: timeout + busLimits.leaseMargin },
      consumer: oneAtATime(fn?.concurrency ?? 1, deliverToTarget(this.#targets, bus.name, rule, target), () =>
        target.kind === "function" ? this.#ctx.host(target.name) !== undefined : true,
      ),
      describe: describeEvent,
      noDeadLetter: `bus "${bus.name}" has no dead-letter queue (give it deadLetter: true to keep such events)`,
    };
  }

  #require(name: string): RunningBus {
    const bus = this.#buses.get(name);
    if (!bus) throw unknownResource("bus", name, this.names());
    return bus;
  }
}

/** `event 5b1e… (OrderPaid from shop.api)`: an event as the log names it, from its stored JSON. */
function describeEvent(body: Uint8Array): string {
  try {
    const event = JSON.parse(Buffer.from(body).toString("utf8")) as NimbusEvent;
    return `event ${event.id} (${event["detail-type"]} from ${event.source})`;
  } catch {
    return "an event that is not JSON";
  }
}
