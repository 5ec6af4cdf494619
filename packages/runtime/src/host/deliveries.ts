/**
 * Delivery queues on JetStream: one stream per route of a rule or schedule to a
 * function (core's `deliveryQueues`, provisioned by provision.ts), filled by the control
 * role and consumed by the function's host with the queue driver, as a queue of the
 * route's policy:
 *
 * - a rule's route: the bus's `delivery` (maxAttempts, backoff) and `deadLetter`, one
 *   event per delivery, up to the function's `concurrency` at once, a lease of the
 *   function's timeout plus `busLimits.leaseMargin`, dropped 24 h after the put;
 * - a schedule's route: the default policy (3 attempts, back-off 1s to 1m), no dead
 *   letter (dropped and logged), one tick at a time, dropped 24 h after the tick was
 *   due. Runs of one schedule never overlap (semantics schedules/overlap/1): a host
 *   runs one at a time (concurrency 1), and across the function's replicas the route's
 *   `consumer` durable hands out one tick at a time (`max_ack_pending: 1`, provision.ts).
 *
 * The driver knows each route by its label (`orders/paid → function fulfil`), so a
 * dead letter records that label as its `queue` (semantics bus retries/2).
 */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  busLimits,
  type DeliveryQueue,
  deliveryQueues,
  type Graph,
  parseDuration,
  type QueueSpec,
  resourcesOf,
  scheduleLimits,
} from "@nimbus/core";
import { JetStreamQueues } from "./queue.ts";

/** Room for the driver's headers on top of an event, as provision.ts sizes the streams. */
const headerRoom = 8 * 1024;

/** One delivery queue with the queue spec its consumer runs with. */
export interface DeliveryQueuePlan {
  delivery: DeliveryQueue;
  spec: QueueSpec;
}

/** Every delivery queue of `graph` (of function `fn` only, when given), with its policy as a queue spec. */
export function deliveryQueuePlans(graph: Graph, prefix?: string, fn?: string): DeliveryQueuePlan[] {
  const functions = new Map(resourcesOf(graph, "function").map((resource) => [resource.name, resource.spec]));
  const buses = new Map(resourcesOf(graph, "bus").map((resource) => [resource.name, resource.spec]));
  const rules = new Map(resourcesOf(graph, "rule").map((resource) => [resource.name, resource.spec]));
  const plans: DeliveryQueuePlan[] = [];
  for (const delivery of deliveryQueues(graph, prefix ? { prefix } : {})) {
    if (fn !== undefined && delivery.function !== fn) continue;
    const target = functions.get(delivery.function);
    if (!target) continue;
    const consumer = { function: delivery.function, batchSize: 1, maxBatchWait: 0 };
    if (delivery.from.kind === "rule") {
      const bus = buses.get(rules.get(delivery.from.name)?.bus ?? "");
      plans.push({
        delivery,
        spec: {
          visibilityTimeout: target.timeout + busLimits.leaseMargin,
          // Present: a rule's bus is in the graph (validateGraph checks every edge).
          delivery: bus!.delivery,
          deadLetter: delivery.deadLetter,
          retention: busLimits.maxEventAge,
          maxMessageSize: busLimits.maxEntrySize + headerRoom,
          schema: null,
          consumer: { ...consumer, concurrency: target.concurrency },
        },
      });
    } else {
      plans.push({
        delivery,
        spec: {
          visibilityTimeout: target.timeout + scheduleLimits.leaseMargin,
          delivery: {
            maxAttempts: scheduleLimits.maxAttempts,
            backoff: {
              initial: parseDuration(scheduleLimits.backoffInitial)!,
              max: parseDuration(scheduleLimits.backoffMax)!,
            },
          },
          deadLetter: null,
          retention: scheduleLimits.maxTickAge,
          maxMessageSize: busLimits.maxEntrySize + headerRoom,
          schema: null,
          consumer: { ...consumer, concurrency: 1 },
        },
      });
    }
  }
  return plans;
}

export interface OpenDeliveriesOptions {
  nc: NatsConnection;
  plans: readonly DeliveryQueuePlan[];
  /**
   * App queues the driver reaches as well, by name: the control role stores rule and
   * schedule deliveries in the queues they target, and refusals in dead-letter queues.
   * @default {}
   */
  queues?: Readonly<Record<string, QueueSpec>>;
  prefix?: string;
  inboxPrefix?: string;
  log?: (line: string) => void;
}

/**
 * A queue driver over the delivery queues of `plans`, each known by its route's label
 * (so a dead letter records that label as its `queue`) and named by core's
 * `deliveryNames`, and over `options.queues` by their names; the streams and durables
 * must exist (provision.ts makes them).
 */
export function openDeliveries(options: OpenDeliveriesOptions): Promise<JetStreamQueues> {
  return JetStreamQueues.open({
    nc: options.nc,
    queues: {
      ...options.queues,
      ...Object.fromEntries(options.plans.map((plan) => [plan.delivery.route.label, plan.spec])),
    },
    names: Object.fromEntries(options.plans.map((plan) => [plan.delivery.route.label, plan.delivery.names])),
    prefix: options.prefix,
    inboxPrefix: options.inboxPrefix,
    log: options.log,
  });
}
