/**
 * Creates every JetStream stream, durable consumer and KV bucket an app needs, as the
 * admin user, before any host starts: the function and control users may not create or
 * delete anything (see core's `natsPermissions`), so the layout must exist before they
 * connect. Idempotent: what exists is updated to the graph, what is missing is created,
 * nothing is deleted (a removed queue's messages stay until someone removes the stream).
 *
 * The layout is the one of `JetStreamQueues` (queue.ts "Layout") and of the bus
 * transport (bus.ts), with every name from core's `subjects.ts`.
 */

import {
  AckPolicy,
  type ConsumerConfig,
  DiscardPolicy,
  type JetStreamManager,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
} from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  busLimits,
  busNames,
  deliveryQueues,
  type Graph,
  NimbusError,
  type QueueStreamNames,
  queueNames,
  resourcesOf,
  type SubjectOptions,
  scheduleLimits,
  scheduleTickNames,
} from "@nimbus/core";

const ns = 1_000_000;
/** Room for the driver's headers on top of a message's own size limit. */
const headerRoom = 8 * 1024;
/** The duplicate window: long enough for a publish retried after a lost reply. */
const duplicateWindow = 60_000;
/** Ack wait of a `delays` consumer: only the mover's own crash waits for it. */
const delaysAckWait = 30_000;
/**
 * Ack wait of a bus's router. Routing one event is a few local publishes, and a running
 * router renews its lease on the events in hand every half of this (router.ts), so it is
 * short: the events a killed router held are routed again 5 s after they were handed out.
 */
export const routerAckWait = 5_000;
/** A fired tick is remembered this long: far longer than two replicas can disagree about one. */
const tickMemory = 7 * 24 * 3_600_000;

/** One queue-machinery stream to provision: its names and settings. */
interface QueueStreamPlan {
  names: QueueStreamNames;
  retention: number;
  maxMessageSize: number;
  /** Ack wait of the `consumer` durable; none when nothing consumes the stream. */
  visibilityTimeout: number | null;
  /** Deliveries of the `consumer` durable unsettled at once, across every host; -1: no limit. */
  maxAckPending: number;
}

/** What `provisionNats` made sure of: stream names, each with its durables. */
export interface ProvisionReport {
  streams: Record<string, string[]>;
}

/**
 * Creates or updates, on the connection `nc` (the admin user's), every stream of the
 * app: one per queue (durables `consumer` when the queue has a consumer, and `delays`),
 * one per delivery queue of a rule or schedule to a function (both durables), one per
 * bus (durable `router`), and the schedule-tick KV bucket when the app has schedules.
 */
export async function provisionNats(
  nc: NatsConnection,
  graph: Graph,
  options: SubjectOptions = {},
): Promise<ProvisionReport> {
  const jsm = await jetstreamManager(nc);
  const report: ProvisionReport = { streams: {} };
  const functions = new Map(resourcesOf(graph, "function").map((fn) => [fn.name, fn.spec]));

  const plans: QueueStreamPlan[] = resourcesOf(graph, "queue").map((queue) => ({
    names: queueNames(queue.name, options),
    retention: queue.spec.retention,
    maxMessageSize: queue.spec.maxMessageSize,
    visibilityTimeout: queue.spec.consumer ? queue.spec.visibilityTimeout : null,
    maxAckPending: -1,
  }));
  for (const delivery of deliveryQueues(graph, options)) {
    const fn = functions.get(delivery.function);
    if (!fn) {
      throw new NimbusError(
        "NIMBUS_DEPLOY_PROVISION",
        `${delivery.route.label}: function "${delivery.function}" is not in the graph; give provisionNats the whole graph.`,
      );
    }
    const schedule = delivery.from.kind === "schedule";
    plans.push({
      names: delivery.names,
      retention: schedule ? scheduleLimits.maxTickAge : busLimits.maxEventAge,
      // A bus event as JSON with its envelope; a tick is far smaller.
      maxMessageSize: busLimits.maxEntrySize + headerRoom,
      visibilityTimeout: fn.timeout + (schedule ? scheduleLimits.leaseMargin : busLimits.leaseMargin),
      // Runs of one schedule never overlap (semantics schedules/overlap/1), also across the
      // function's replicas: the server hands out the next tick once the last is settled.
      maxAckPending: schedule ? 1 : -1,
    });
  }
  for (const plan of plans) {
    const { names } = plan;
    await ensureStream(jsm, {
      name: names.stream,
      subjects: [names.subjects],
      retention: RetentionPolicy.Workqueue,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: plan.retention * ns,
      max_msg_size: plan.maxMessageSize + headerRoom,
      duplicate_window: Math.min(duplicateWindow, plan.retention) * ns,
    });
    const durables: string[] = [names.delays];
    await ensureConsumer(jsm, names.stream, names.delays, names.delayedFilter, delaysAckWait);
    if (plan.visibilityTimeout !== null) {
      await ensureConsumer(
        jsm,
        names.stream,
        names.consumer,
        names.readyFilter,
        plan.visibilityTimeout,
        plan.maxAckPending,
      );
      durables.unshift(names.consumer);
    }
    report.streams[names.stream] = durables;
  }

  for (const bus of resourcesOf(graph, "bus")) {
    const names = busNames(bus.name, options);
    await ensureStream(jsm, {
      name: names.stream,
      subjects: [names.subject],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      max_age: busLimits.maxEventAge * ns,
      max_msg_size: busLimits.maxEntrySize + headerRoom,
      duplicate_window: 2 * duplicateWindow * ns,
    });
    await ensureConsumer(jsm, names.stream, names.router, names.subject, routerAckWait);
    report.streams[names.stream] = [names.router];
  }

  if (resourcesOf(graph, "schedule").length > 0) {
    const ticks = scheduleTickNames(options);
    // A KV bucket as the NATS clients make one: the last value per key, direct gets, no deletes.
    await ensureStream(jsm, {
      name: ticks.stream,
      subjects: [ticks.subjects],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.New,
      max_msgs_per_subject: 1,
      max_age: tickMemory * ns,
      allow_rollup_hdrs: true,
      deny_delete: true,
      allow_direct: true,
      duplicate_window: 2 * 60_000 * ns,
    });
    report.streams[ticks.stream] = [];
  }
  return report;
}

/** Creates the stream, or updates it when a setting the graph decides differs. */
async function ensureStream(jsm: JetStreamManager, config: Partial<StreamConfig> & { name: string }): Promise<void> {
  const existing = await jsm.streams.info(config.name).catch(() => undefined);
  if (!existing) {
    try {
      await jsm.streams.add(config);
      return;
    } catch (error) {
      // Two provisioners at once: the other one created it; fall through to compare.
      if (!(await jsm.streams.info(config.name).catch(() => undefined))) throw error;
    }
  }
  const current = (await jsm.streams.info(config.name)).config as unknown as Record<string, unknown>;
  const { name, retention: _fixed, storage: _alsoFixed, ...mutable } = config;
  const differs = Object.entries(mutable).some(
    ([key, value]) => JSON.stringify(current[key]) !== JSON.stringify(value),
  );
  if (differs) await jsm.streams.update(name, mutable);
}

/** Creates the durable pull consumer, or updates its ack wait and max ack pending to the graph's. */
async function ensureConsumer(
  jsm: JetStreamManager,
  stream: string,
  durable: string,
  filter: string,
  ackWait: number,
  maxAckPending = -1,
): Promise<void> {
  const existing = await jsm.consumers.info(stream, durable).catch(() => undefined);
  if (existing) {
    if (existing.config.ack_wait !== ackWait * ns || (existing.config.max_ack_pending ?? -1) !== maxAckPending) {
      await jsm.consumers.update(stream, durable, { ack_wait: ackWait * ns, max_ack_pending: maxAckPending });
    }
    return;
  }
  const config: Partial<ConsumerConfig> = {
    durable_name: durable,
    filter_subject: filter,
    ack_policy: AckPolicy.Explicit,
    ack_wait: ackWait * ns,
    // Attempts and dead letters are the driver's (queue.ts "Attempts"), so the server may
    // not cap deliveries; delayed messages wait as pending acks on `delays`, so only a
    // schedule's `consumer` caps them (one tick at a time).
    max_deliver: -1,
    max_ack_pending: maxAckPending,
  };
  await jsm.consumers.add(stream, config);
}
