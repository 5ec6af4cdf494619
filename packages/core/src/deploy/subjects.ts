import { resourcesOf } from "../graph/resources.ts";
import type { Graph } from "../graph/schema.ts";
import { type DeliveryRoute, deliveryRoute, physicalName } from "../naming/physical-name.ts";

/**
 * The names an app's resources take on NATS JetStream, in one place: the queue driver,
 * the bus transport, the control role, the provisioner and the per-function permissions
 * all read them from here, so a permission can never name a subject the driver does not
 * use.
 *
 * Every stream name starts with its kind (`queue-`, `delivery-`, `bus-`), so a queue
 * named `bus-orders` and a bus named `orders` never share a stream. Subjects live under
 * `nimbus.q.<stream>` (anything the queue machinery runs: queues and delivery queues)
 * and `nimbus.b.<stream>` (buses); stream names hold no `.`, so one stream's subjects
 * never fall under another's.
 */
export interface SubjectOptions {
  /**
   * Put before every stream and KV bucket name with a `-`: the stage and app.
   * @default none
   * @example "prod-shop"
   */
  prefix?: string;
}

/**
 * A stream run by the queue machinery: an app's queue, or the delivery queue of one
 * rule or schedule to one function. Its subjects, under `root`:
 * - `ready.new`, `ready.dead.<source stream>`: deliverable messages, and dead letters
 *   that died in the queue whose stream is `<source stream>`;
 * - `delayed.new`, `delayed.dead.<source stream>`: the same, held back until due.
 */
export interface QueueStreamNames {
  stream: string;
  /** `nimbus.q.<stream>` */
  root: string;
  /** `<root>.>`: the stream's subjects. */
  subjects: string;
  /** Where a send puts a message deliverable now. */
  ready: string;
  /** Where a send puts a delayed message. */
  delayed: string;
  /** Filter of the `consumer` durable: `<root>.ready.>`. */
  readyFilter: string;
  /** Filter of the `delays` durable: `<root>.delayed.>`. */
  delayedFilter: string;
  /** The durable pull consumer that feeds the consuming function. */
  consumer: "consumer";
  /** The durable pull consumer that moves delayed messages to `ready` once due. */
  delays: "delays";
  /** Where a message that died in the stream `source` lands in this (dead-letter) queue. */
  deadLetter(source: string): string;
  /** Where such a dead letter waits while a back-off or delay holds it, in this queue. */
  delayedDeadLetter(source: string): string;
  /** The dead letters in this queue, both states: from `source`, or from every stream when omitted. */
  deadLetterFilter(source?: string): string;
}

/** A bus's stream: one JetStream message per event put on it, read by the control role's router. */
export interface BusStreamNames {
  stream: string;
  /** `nimbus.b.<stream>.events` */
  subject: string;
  /** The control role's durable pull consumer. */
  router: "router";
}

/** The KV bucket where the control role records fired schedule ticks (one tick once, with two replicas). */
export interface ScheduleTickNames {
  /** The KV bucket's name. */
  bucket: string;
  /** Its stream: `KV_<bucket>`. */
  stream: string;
  /** Its subjects: `$KV.<bucket>.>`. */
  subjects: string;
}

function stream(name: string, options: SubjectOptions): string {
  return physicalName(name, "jetstream", options.prefix ? { prefix: options.prefix } : {});
}

function queueStream(name: string): QueueStreamNames {
  const root = `nimbus.q.${name}`;
  return {
    stream: name,
    root,
    subjects: `${root}.>`,
    ready: `${root}.ready.new`,
    delayed: `${root}.delayed.new`,
    readyFilter: `${root}.ready.>`,
    delayedFilter: `${root}.delayed.>`,
    consumer: "consumer",
    delays: "delays",
    deadLetter: (source) => `${root}.ready.dead.${source}`,
    delayedDeadLetter: (source) => `${root}.delayed.dead.${source}`,
    deadLetterFilter: (source) => `${root}.*.dead.${source ?? ">"}`,
  };
}

/** The names of the app's queue `queue`: `queueNames("orders").stream` is `queue-orders`. */
export function queueNames(queue: string, options: SubjectOptions = {}): QueueStreamNames {
  return queueStream(stream(`queue-${queue}`, options));
}

/**
 * The names of the delivery queue of one route (a rule or schedule to a function), by
 * its `deliveryRoute(...).key`: `deliveryNames("orders_paid_function_fulfil")`. A rule's
 * route to a queue or bus has no stream; its `stream` names the dead-letter slot
 * (`ready.dead.<stream>`) where the events that target refuses wait, for redrive.
 */
export function deliveryNames(routeKey: string, options: SubjectOptions = {}): QueueStreamNames {
  return queueStream(stream(`delivery-${routeKey}`, options));
}

/** The names of bus `bus`: `busNames("orders").subject` is `nimbus.b.bus-orders.events`. */
export function busNames(bus: string, options: SubjectOptions = {}): BusStreamNames {
  const name = stream(`bus-${bus}`, options);
  return { stream: name, subject: `nimbus.b.${name}.events`, router: "router" };
}

/** The names of the schedule-tick KV bucket. */
export function scheduleTickNames(options: SubjectOptions = {}): ScheduleTickNames {
  const bucket = stream("schedule-ticks", options);
  return { bucket, stream: `KV_${bucket}`, subjects: `$KV.${bucket}.>` };
}

/** The subject the control role answers `{ "schedule": name }` trigger requests on (one replica, a queue group). */
export const scheduleTriggerSubject = (options: SubjectOptions = {}): string =>
  `nimbus.s.${stream("schedule-ticks", options)}.trigger`;

/** The delivery queue of one route: a rule or schedule to a function target. */
export interface DeliveryQueue {
  /** `deliveryRoute(from, target)`: label for people, key for names. */
  route: DeliveryRoute;
  /** The rule (`<bus>/<rule>`) or schedule the deliveries come from. */
  from: { kind: "rule" | "schedule"; name: string };
  /** The function that handles them. */
  function: string;
  /** The queue a delivery that keeps failing moves to: the rule's bus's `deadLetter`; null for schedules (dropped). */
  deadLetter: string | null;
  names: QueueStreamNames;
}

/**
 * Every delivery queue of the graph, in graph order: one per function target of a rule,
 * one per schedule whose target is a function. Queue and bus targets have none: the
 * control role stores those deliveries straight in the target's stream.
 */
export function deliveryQueues(graph: Graph, options: SubjectOptions = {}): DeliveryQueue[] {
  const deadLetters = new Map(resourcesOf(graph, "bus").map((bus) => [bus.name, bus.spec.deadLetter]));
  const found: DeliveryQueue[] = [];
  const add = (from: DeliveryQueue["from"], fn: string, deadLetter: string | null) => {
    const route = deliveryRoute(from.name, { kind: "function", name: fn });
    found.push({ route, from, function: fn, deadLetter, names: deliveryNames(route.key, options) });
  };
  for (const resource of graph.resources) {
    if (resource.kind === "rule") {
      for (const target of resource.spec.targets) {
        if (target.kind === "function") {
          add({ kind: "rule", name: resource.name }, target.name, deadLetters.get(resource.spec.bus) ?? null);
        }
      }
    } else if (resource.kind === "schedule" && resource.spec.target.kind === "function") {
      add({ kind: "schedule", name: resource.name }, resource.spec.target.name, null);
    }
  }
  return found;
}
