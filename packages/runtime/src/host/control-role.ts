import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { natsInboxPrefix, resourcesOf } from "@nimbus/core";
import type { ControlRoleConfig } from "./config.ts";
import type { HostLogger } from "./log.ts";
import { JetStreamQueues, type Running } from "./queue.ts";
import { sweepRetention } from "./retention-sweep.ts";
import { BusRouter, type BusRouterOptions } from "./router.ts";
import { Scheduler } from "./scheduler.ts";
import { hostApp, type Listening, listen } from "./server.ts";

/** A started control host. */
export interface ControlRole {
  /** The port of its health endpoints. */
  readonly port: number;
  readonly router: BusRouter;
  readonly scheduler: Scheduler;
  /** Stops routing and firing (what is in hand finishes), then closes NATS. Never rejects. */
  stop(): Promise<void>;
}

export interface ControlRoleHooks {
  /** For tests: see `BusRouterOptions.beforeAck`. */
  beforeAck?: BusRouterOptions["beforeAck"];
}

/**
 * Runs the app's control loops on JetStream (everything provisioned beforehand by
 * provision.ts): the bus router (router.ts), the scheduler (scheduler.ts), and for each
 * queue no function consumes (a dead-letter queue, typically) the mover of its delayed
 * messages and the sweep that drops its messages past their retention
 * (retention-sweep.ts); the consumers' hosts do both for their own queues. Dead letters
 * need no loop here: the queue driver moves them, also those whose consumer crashed at
 * the last attempt (dead-letters.ts). Health endpoints from the start; ready once NATS
 * is connected and every consumer is attached.
 */
export async function startControlRole(
  config: ControlRoleConfig,
  logger: HostLogger,
  hooks: ControlRoleHooks = {},
): Promise<ControlRole> {
  let connected = false;
  let attached = false;
  let stopping = false;
  let router: BusRouter | undefined;
  let scheduler: Scheduler | undefined;
  let queues: JetStreamQueues | undefined;
  /** The delays mover and retention sweep of each queue nobody consumes. */
  const unconsumed: Running[] = [];
  const app = hostApp({
    readiness: () => {
      const waiting = [
        ...(connected ? [] : ["nats"]),
        ...(attached ? [] : ["consumers"]),
        ...(router?.ended.map((bus) => `router of bus ${bus}`) ?? []),
        ...(stopping ? ["stopping"] : []),
      ];
      return { ready: waiting.length === 0, waiting };
    },
  });
  const listening: Listening = await listen(app, config.port, config.hostname);
  logger.info(`control role listening on ${config.hostname}:${listening.port}`);

  const inboxPrefix = config.nats.user ? natsInboxPrefix(config.nats.user) : undefined;
  const nc: NatsConnection = await connect({
    servers: config.nats.servers,
    user: config.nats.user,
    pass: config.nats.pass,
    token: config.nats.token,
    name: "nimbus-control",
    // The control user may read replies only under its own inbox prefix (core's natsPermissions).
    inboxPrefix,
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    // No stack captured for every request and publish ack: a tenth of a busy host's CPU.
    noAsyncTraces: true,
  });
  connected = true;
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") connected = false;
      else if (status.type === "reconnect") connected = true;
      else continue;
      logger[connected ? "info" : "warn"](
        connected ? "NATS connection restored" : "NATS connection lost; reconnecting",
      );
    }
  })();

  const lines = { info: logger.info, warn: logger.warn, error: logger.error };
  try {
    queues = await JetStreamQueues.open({
      nc,
      queues: Object.fromEntries(resourcesOf(config.graph, "queue").map((queue) => [queue.name, queue.spec])),
      prefix: config.prefix,
      inboxPrefix,
      log: logger.warn,
    });
    const jsm = await jetstreamManager(nc);
    for (const queue of resourcesOf(config.graph, "queue")) {
      if (queue.spec.consumer !== null) continue;
      unconsumed.push(queues.moveDelayed(queue.name));
      unconsumed.push(
        sweepRetention({
          jsm,
          queue: queue.name,
          names: queues.names(queue.name),
          retention: queue.spec.retention,
          log: logger.warn,
        }),
      );
    }
    router = await BusRouter.start({ nc, graph: config.graph, prefix: config.prefix, ...lines, ...hooks });
    scheduler = await Scheduler.start({ nc, graph: config.graph, prefix: config.prefix, ...lines });
  } catch (error) {
    await router?.stop();
    await scheduler?.stop();
    await Promise.all(unconsumed.map((loop) => loop.stop()));
    await listening.close();
    await nc.close();
    throw error;
  }
  attached = true;
  logger.info(
    `control role ready: ${resourcesOf(config.graph, "bus").length} bus(es), ${resourcesOf(config.graph, "schedule").length} schedule(s)`,
  );

  let stopped: Promise<void> | undefined;
  const running = { router, scheduler };
  return {
    port: listening.port,
    ...running,
    stop: () => {
      stopped ??= (async () => {
        stopping = true;
        logger.info("stopping: finishing the events and ticks in hand");
        const closed = listening.close();
        await Promise.allSettled([
          running.router.stop(),
          running.scheduler.stop(),
          ...unconsumed.map((loop) => loop.stop()),
        ]);
        listening.server.closeAllConnections();
        await closed;
        await nc.drain().catch(() => {});
        logger.info("stopped");
      })();
      return stopped;
    },
  };
}
