import {
  busLimits,
  type CompiledRules,
  compileRules,
  deliveryRoute,
  type EventPattern,
  type FunctionSpec,
  type Graph,
  NimbusError,
  type NimbusEvent,
  type PutEntry,
  type ResourceRef,
  resourcesOf,
  toEvent,
} from "@nimbus/core";
import type { Clock } from "../../clock/clock.ts";
import type { Logger } from "../../logs/logger.ts";
import type { FunctionHost } from "../function/host.ts";
import { oneAtATime, Refusal } from "../queue/one-at-a-time.ts";
import type { DeliveryQueue, QueuePlugin } from "../queue/plugin.ts";
import type { Enqueued, OutgoingMessage, QueuePolicy } from "../queue/store.ts";
import { unknownResource } from "../unknown-resource.ts";
import { type DetailCheck, detailCheck, readEntries } from "./entries.ts";

interface RunningBus {
  name: string;
  deadLetter: string | null;
  policy: Omit<QueuePolicy, "visibilityTimeout">;
  rules: CompiledRules;
  /** Each rule's targets, by rule name (`<bus>/<rule>`). */
  targets: Map<string, ResourceRef[]>;
  check: DetailCheck;
}

export interface BusPluginContext {
  queues: QueuePlugin;
  clock: Clock;
  logger: Logger;
  /** The running host of a function, to deliver events to its `event` handler. */
  host: (fn: string) => FunctionHost | undefined;
}

/**
 * Event buses in the emulator. A `put` turns entries into EventBridge-shaped events,
 * matches each against the bus's rules with the shared compiled index, and stores one
 * message per matching rule and target in one SQLite transaction: straight into a target
 * queue, or into the delivery queue of that rule and target, from which a function's
 * `event` handler gets it with retries and a dead-letter queue (docs/semantics.md).
 * An event for another bus is routed there within the same put.
 */
export class BusPlugin {
  readonly #ctx: BusPluginContext;
  readonly #buses = new Map<string, RunningBus>();

  constructor(ctx: BusPluginContext) {
    this.#ctx = ctx;
  }

  /** Takes the graph's buses and rules; events waiting for delivery stay in the store. */
  apply(graph: Graph): void {
    const rules = resourcesOf(graph, "rule");
    const functions = new Map(resourcesOf(graph, "function").map((fn) => [fn.name, fn.spec]));
    this.#buses.clear();
    const deliveries: DeliveryQueue[] = [];
    for (const bus of resourcesOf(graph, "bus")) {
      const own = rules.filter((rule) => rule.spec.bus === bus.name);
      const running: RunningBus = {
        name: bus.name,
        deadLetter: bus.spec.deadLetter,
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
   * delivery they cause is stored before this returns.
   */
  put(name: string, entries: unknown): string[] {
    const events = this.events(this.check(name, entries));
    const items = events.flatMap((event) => this.route(name, event));
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
   * `path` holds the buses the event came through, so a cycle of bus targets ends.
   */
  route(name: string, event: NimbusEvent, path: readonly string[] = []): Enqueued[] {
    const bus = this.#require(name);
    const matched = bus.rules.match(event);
    const via = path.length ? ` (forwarded from ${path.join(" → ")})` : "";
    this.#ctx.logger.info(
      `bus ${name}: event ${event.id} (${event["detail-type"]} from ${event.source})${via} matched ${matched.length ? matched.join(", ") : "no rule"}`,
    );
    if (matched.length === 0) return [];
    const message: OutgoingMessage = { format: "json", body: Buffer.from(JSON.stringify(event)) };
    const items: Enqueued[] = [];
    for (const rule of matched) {
      for (const target of bus.targets.get(rule) ?? []) {
        const delivery = deliveryRoute(rule, target).key;
        try {
          if (target.kind === "function") items.push({ queue: delivery, message });
          else if (target.kind === "queue") items.push(this.#toQueue(target.name, message));
          else items.push(...this.#toBus(target.name, event, [...path, name]));
        } catch (error) {
          // A target that refuses the event never will: it goes to the dead-letter queue at once.
          const reason = (error as Error).message;
          if (bus.deadLetter === null) {
            this.#ctx.logger.error(
              `bus ${name}: event ${event.id} could not be delivered by ${rule} to ${target.kind} ${target.name} and the bus has no dead-letter queue, so it was dropped: ${reason}`,
            );
          } else {
            this.#ctx.logger.warn(
              `bus ${name}: event ${event.id} could not be delivered by ${rule} to ${target.kind} ${target.name}; moved to "${bus.deadLetter}": ${reason}`,
            );
            items.push({ queue: bus.deadLetter, message, dead: { from: delivery, error: reason } });
          }
        }
      }
    }
    return items;
  }

  #toQueue(queue: string, message: OutgoingMessage): Enqueued {
    this.#ctx.queues.check(queue, message);
    return { queue, message };
  }

  #toBus(name: string, event: NimbusEvent, path: readonly string[]): Enqueued[] {
    if (path.includes(name)) {
      this.#ctx.logger.warn(
        `bus ${name}: event ${event.id} came back through ${path.join(" → ")} → ${name}; an event visits a bus once, so it stops here`,
      );
      return [];
    }
    if (path.length >= busLimits.maxHops) {
      throw new NimbusError(
        "NIMBUS_BUS_HOPS",
        `the event has passed through ${path.length} buses (${path.join(" → ")}), the most an event may`,
      );
    }
    const target = this.#require(name);
    target.check({ source: event.source, detailType: event["detail-type"], detail: event.detail }, 0);
    return this.route(name, event, path);
  }

  /** The delivery queue of one rule and target, with the bus's retry policy. */
  #deliveryQueue(bus: RunningBus, rule: string, target: ResourceRef, fn: FunctionSpec | undefined): DeliveryQueue {
    const route = deliveryRoute(rule, target);
    const timeout = target.kind === "function" ? (fn?.timeout ?? busLimits.forwardTimeout) : busLimits.forwardTimeout;
    const deliver = async (body: Uint8Array): Promise<void> => {
      const event = JSON.parse(Buffer.from(body).toString("utf8")) as NimbusEvent;
      if (target.kind === "function") {
        const host = this.#ctx.host(target.name);
        if (!host) throw new Error(`function "${target.name}" is not running`);
        const result = await host.run("event", event, `event ${event.id} (${event["detail-type"]}) by ${rule}`);
        if (!result.ok) throw new Error(result.error);
        return;
      }
      let items: Enqueued[];
      try {
        items =
          target.kind === "queue"
            ? [this.#toQueue(target.name, { format: "json", body })]
            : this.#toBus(target.name, event, [bus.name]);
      } catch (error) {
        throw new Refusal((error as Error).message);
      }
      this.#ctx.queues.enqueue(items);
    };
    return {
      name: route.key,
      label: route.label,
      // A function's own timeout ends a run first; the lease outlives it, so a run is never delivered twice at once.
      policy: { ...bus.policy, visibilityTimeout: timeout + busLimits.leaseMargin },
      consumer: oneAtATime(fn?.concurrency ?? 1, deliver, () =>
        target.kind === "function" ? this.#ctx.host(target.name) !== undefined : true,
      ),
      describe: describeEvent,
      noDeadLetter: `bus "${bus.name}" has no dead-letter queue (give it deadLetter: true to keep such events)`,
    };
  }

  #require(name: string): RunningBus {
    const bus = this.#buses.get(name);
    if (!bus) {
      throw unknownResource("bus", name, this.names());
    }
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
