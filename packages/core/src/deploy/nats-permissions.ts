import { resourcesOf } from "../graph/resources.ts";
import type { Graph } from "../graph/schema.ts";
import {
  busNames,
  deliveryQueues,
  type QueueStreamNames,
  queueNames,
  type SubjectOptions,
  scheduleTickNames,
  scheduleTriggerSubject,
} from "./subjects.ts";

/** What one NATS user may publish to and subscribe to; nothing else is allowed. */
export interface NatsPermissions {
  publish: string[];
  subscribe: string[];
  /**
   * May answer the requests it receives: publish once to each received message's reply
   * subject (nats-server's `allow_responses: true`), whatever `publish` says. Only a user
   * that serves requests has it (the control role, for schedule triggers).
   * @default false
   */
  allowResponses?: boolean;
}

/** One NATS user of the app, with the inbox prefix its client must connect with. */
export interface NatsUser {
  user: string;
  /**
   * The client's `inboxPrefix`: replies (publish acks, pulled messages, API answers) come
   * to `<inboxPrefix>.>`, the only subjects the user may subscribe to, so no user reads
   * another's replies.
   */
  inboxPrefix: string;
  permissions: NatsPermissions;
}

/** Every NATS user of an app: one per function, the control role, and the provisioner. */
export interface NatsUsers {
  /** By function name. */
  functions: Record<string, NatsUser>;
  /**
   * Routes bus events, fires schedules, moves delayed messages of queues nobody consumes
   * and drops those queues' messages past their retention.
   */
  control: NatsUser;
  /**
   * Creates and updates streams and consumers, and backs the tools (stats, dead letters,
   * redrive): the whole JetStream API, but no wildcard over every subject.
   */
  admin: NatsUser;
  /**
   * The Nimbus store service, which publishes bucket notifications from its outbox: only
   * to the subjects of the buses some bucket notifies. Absent when no bucket notifies a
   * bus (the store then needs no NATS).
   */
  store?: NatsUser;
}

export interface NatsPermissionsOptions extends SubjectOptions {
  /**
   * Who publishes bucket notifications: `"store"`, the Nimbus store (its own user);
   * `"bindings"`, the hosts of the functions that write (any other S3 endpoint): each
   * function may then publish to the buses its linked buckets notify, and there is no
   * store user. @default "store"
   */
  bucketNotifications?: "store" | "bindings";
}

/** The account's JetStream API info (`jetstreamManager()` asks for it); read-only. */
const accountInfo = "$JS.API.INFO";

/** The user name of function `fn`'s host. */
export function natsFunctionUser(fn: string): string {
  return `function-${fn}`;
}

/** A user's inbox prefix: `_INBOX_<user>`, a single subject token. */
export function natsInboxPrefix(user: string): string {
  return `_INBOX_${user}`;
}

/** Pulling from, and settling on, one durable pull consumer, and reading its and its stream's state. */
function pulls(stream: string, durable: string): string[] {
  return [
    `$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`,
    `$JS.API.CONSUMER.INFO.${stream}.${durable}`,
    `$JS.API.STREAM.INFO.${stream}`,
    `$JS.ACK.${stream}.${durable}.>`,
  ];
}

/**
 * Running a stream of the queue machinery for its consumer: both durables (the delays
 * mover runs beside the consumer), re-publishing retries and moved messages within the
 * stream, and a dead letter into exactly the dead-letter queue's slot for this stream.
 */
function consumes(names: QueueStreamNames, deadLetter: string | null, options: SubjectOptions): string[] {
  const rules = [...pulls(names.stream, names.consumer), ...pulls(names.stream, names.delays), names.subjects];
  if (deadLetter !== null) rules.push(queueNames(deadLetter, options).deadLetter(names.stream));
  return rules;
}

/** The rules sorted, without repeats or rules a `<prefix>.>` rule of the list already covers. */
function minimal(rules: Iterable<string>): string[] {
  const all = [...new Set(rules)];
  const wide = all.filter((rule) => rule.endsWith(".>")).map((rule) => rule.slice(0, -1));
  return all.filter((rule) => !wide.some((prefix) => rule !== `${prefix}>` && rule.startsWith(prefix))).sort();
}

function user(name: string, publish: Iterable<string>, serves: readonly string[] = []): NatsUser {
  const inboxPrefix = natsInboxPrefix(name);
  const permissions: NatsPermissions = { publish: minimal(publish), subscribe: [`${inboxPrefix}.>`, ...serves] };
  if (serves.length > 0) permissions.allowResponses = true;
  return { user: name, inboxPrefix, permissions };
}

/**
 * The NATS users of an app, each allowed exactly what its role needs, derived from the
 * graph's links, consumers, rules and schedules (ARCHITECTURE "least privilege"):
 *
 * - a function may send to the queues it links (`ready.new`, `delayed.new`, and the
 *   message deletes a failed `sendBatch` takes back), put on the buses it links, run the
 *   consumers of the queues it consumes and of its delivery queues (pull, ack, info,
 *   retries into the same stream), and put a dead letter into the one dead-letter slot
 *   each of those may die into; no stream or consumer is created or deleted by it;
 * - the control role may read every bus with its router, store deliveries in the
 *   delivery queues and in queues that rules and schedules target, put on every bus
 *   (bus targets, schedules, bucket notifications), put refused events into the buses'
 *   dead-letter queues, move delayed messages of queues nobody consumes and read and
 *   delete (by sequence) those queues' messages past their retention, use the
 *   schedule-tick KV bucket, and answer trigger requests: it subscribes to
 *   `scheduleTriggerSubject` and may reply to each request it gets (`allowResponses`),
 *   so a requester's inbox needs no rule of its own;
 * - the admin may use the whole JetStream API and every `nimbus.` subject: it
 *   provisions, backs the tools and sends trigger requests (the CLI's `nimbus trigger`);
 * - with `bucketNotifications: "bindings"`, a function may also publish to the buses its
 *   linked buckets notify, as its host publishes their notifications;
 * - the store (`nimbus-store`, only when a bucket notifies a bus) may publish to the
 *   subjects of the buses buckets notify and nothing else: a JetStream publish's ack
 *   comes back to its inbox, so it needs no API subject.
 *
 * Every user subscribes to its own inbox prefix, and the control role to the trigger
 * subject besides; no user gets `>`.
 */
export function natsPermissions(graph: Graph, options: NatsPermissionsOptions = {}): NatsUsers {
  const queues = resourcesOf(graph, "queue");
  const bindingsNotify = options.bucketNotifications === "bindings";
  const buckets = new Map(resourcesOf(graph, "bucket").map((bucket) => [bucket.name, bucket.spec]));
  const buses = resourcesOf(graph, "bus");
  const deliveries = deliveryQueues(graph, options);

  const functions: Record<string, NatsUser> = {};
  for (const fn of resourcesOf(graph, "function")) {
    const publish = new Set<string>([accountInfo]);
    const add = (rules: string[]) => {
      for (const rule of rules) publish.add(rule);
    };
    for (const link of fn.spec.links) {
      if (link.kind === "queue") {
        const names = queueNames(link.resource, options);
        add([names.ready, names.delayed, `$JS.API.STREAM.MSG.DELETE.${names.stream}`]);
      } else if (link.kind === "bus") {
        add([busNames(link.resource, options).subject]);
      } else if (link.kind === "bucket" && bindingsNotify) {
        for (const notification of buckets.get(link.resource)?.notifications ?? []) {
          add([busNames(notification.bus, options).subject]);
        }
      }
    }
    for (const queue of queues) {
      if (queue.spec.consumer?.function === fn.name) {
        add(consumes(queueNames(queue.name, options), queue.spec.deadLetter, options));
      }
    }
    for (const delivery of deliveries) {
      if (delivery.function === fn.name) add(consumes(delivery.names, delivery.deadLetter, options));
    }
    const name = natsFunctionUser(fn.name);
    functions[fn.name] = user(name, publish);
  }

  const control = new Set<string>([accountInfo]);
  for (const bus of buses) {
    const names = busNames(bus.name, options);
    for (const rule of [...pulls(names.stream, names.router), names.subject]) control.add(rule);
    if (bus.spec.deadLetter !== null) control.add(`${queueNames(bus.spec.deadLetter, options).root}.ready.dead.>`);
  }
  for (const delivery of deliveries) {
    control.add(delivery.names.ready);
    control.add(`$JS.API.STREAM.INFO.${delivery.names.stream}`);
  }
  const targeted = new Set<string>();
  for (const rule of resourcesOf(graph, "rule")) {
    for (const target of rule.spec.targets) if (target.kind === "queue") targeted.add(target.name);
  }
  for (const schedule of resourcesOf(graph, "schedule")) {
    if (schedule.spec.target.kind === "queue") targeted.add(schedule.spec.target.name);
  }
  for (const queue of targeted) control.add(queueNames(queue, options).ready);
  for (const queue of queues) {
    if (queue.spec.consumer !== null) continue;
    const names = queueNames(queue.name, options);
    for (const rule of pulls(names.stream, names.delays)) control.add(rule);
    control.add(names.readyFilter);
    // The retention sweep: reads each stored message once and deletes those past retention.
    control.add(`$JS.API.STREAM.MSG.GET.${names.stream}`);
    control.add(`$JS.API.STREAM.MSG.DELETE.${names.stream}`);
  }
  const schedules = resourcesOf(graph, "schedule").length > 0;
  if (schedules) {
    const ticks = scheduleTickNames(options);
    for (const rule of [
      ticks.subjects,
      `$JS.API.STREAM.INFO.${ticks.stream}`,
      `$JS.API.STREAM.MSG.GET.${ticks.stream}`,
      `$JS.API.DIRECT.GET.${ticks.stream}`,
      `$JS.API.DIRECT.GET.${ticks.stream}.>`,
    ]) {
      control.add(rule);
    }
  }

  const notified = new Set<string>();
  for (const bucket of resourcesOf(graph, "bucket")) {
    for (const notification of bucket.spec.notifications) notified.add(busNames(notification.bus, options).subject);
  }

  return {
    functions,
    control: user("nimbus-control", control, schedules ? [scheduleTriggerSubject(options)] : []),
    admin: user("nimbus-admin", ["$JS.API.>", "$JS.ACK.>", "$KV.>", "nimbus.>"]),
    ...(notified.size > 0 && !bindingsNotify ? { store: user("nimbus-store", notified) } : {}),
  };
}
