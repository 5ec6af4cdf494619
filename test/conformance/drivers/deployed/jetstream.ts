// What the deployed targets (processes, docker) share in their drivers: queue handles and
// idle() over JetStream, as the admin NATS user (stats, dead letters and redrive through
// QueueAdmin), so each driver supplies only how it reaches NATS and runs the hosts.
import { jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import { type Graph, resourcesOf } from "@nimbus/core";
import { fillingBatch, type JetStreamQueues, type QueueAdmin } from "@nimbus/runtime/host";
import { queueClient } from "@nimbus/runtime/target";
import type { QueueHandle } from "../../driver.ts";

/** How long `idle()` waits for the app to settle before it fails, naming what still runs. */
const idleTimeout = 50_000;
/** Reads of nothing pending in a row before `idle()` believes it. */
const settledReads = 3;

/** A queue of the app: sends through the runtime's client, the rest through QueueAdmin. */
export function queueHandle(name: string, queues: JetStreamQueues, admin: QueueAdmin): QueueHandle {
  const client = queueClient(name, queues.transport(name));
  return {
    send: (body, options) => client.send(body, options),
    sendBatch: (messages) => client.sendBatch(messages),
    stats: () => admin.stats(name),
    deadLettered: async () =>
      (await admin.deadLettered(name)).map((dead) => ({ ...dead, firstSeen: dead.firstSeen.getTime() })),
    redrive: () => admin.redrive(name),
  };
}

/**
 * Polls JetStream until no durable consumer that something runs has a message waiting
 * or in flight, several reads in a row: the queues' and delivery queues' `consumer`s
 * and the buses' `router`s. `delays` consumers hold what is due later, which idle()
 * does not wait for; nor do the streams of queues nobody consumes; nor does a partial
 * batch filling for its `maxBatchWait` (runtime's `fillingBatch`, as `stats()` tells
 * it), unless `options.batches`: then it waits for those to be delivered too,
 * as a reset must (a purge does not reach the messages a host holds).
 */
export async function jetStreamIdle(
  nc: NatsConnection,
  graph: Graph,
  queues: JetStreamQueues,
  options: { batches?: boolean } = {},
): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const unconsumed = new Set(
    resourcesOf(graph, "queue")
      .filter((queue) => !queue.spec.consumer)
      .map((queue) => queues.names(queue.name).stream),
  );
  const consumers = new Map(
    resourcesOf(graph, "queue")
      .filter((queue) => queue.spec.consumer)
      .map((queue) => [queues.names(queue.name).stream, queue.spec.consumer!]),
  );
  const deadline = Date.now() + idleTimeout;
  let quiet = 0;
  for (;;) {
    const busy: string[] = [];
    for await (const stream of jsm.streams.list()) {
      if (unconsumed.has(stream.config.name)) continue;
      for await (const consumer of jsm.consumers.list(stream.config.name)) {
        if (consumer.name === "delays") continue;
        // The batch QueueAdmin's stats() counts as waiting: what is due later.
        const spec = consumers.get(stream.config.name);
        if (!options.batches && spec && fillingBatch(consumer, spec)) continue;
        const waiting = consumer.num_pending + consumer.num_ack_pending;
        if (waiting > 0) busy.push(`${stream.config.name}/${consumer.name}: ${waiting}`);
      }
    }
    quiet = busy.length === 0 ? quiet + 1 : 0;
    if (quiet >= settledReads) return;
    if (Date.now() > deadline)
      throw new Error(`the app did not settle within ${idleTimeout / 1000}s: ${busy.join(", ")}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Purges every stream of the app (queues, deliveries, buses, schedule ticks). */
export async function purgeStreams(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  for await (const stream of jsm.streams.list()) await jsm.streams.purge(stream.config.name);
}
