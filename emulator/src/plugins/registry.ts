import type { LinkSpec } from "@nimbus/core";
import type { Clock } from "../clock/clock.ts";
import type { Work } from "../clock/work.ts";
import type { Logger } from "../logs/logger.ts";
import type { Credentials } from "../state/credentials.ts";
import { BucketPlugin } from "./bucket-plugin.ts";
import { BusPlugin } from "./bus/plugin.ts";
import { FunctionPlugin } from "./function/plugin.ts";
import type { SpareWorkers } from "./function/spare-workers.ts";
import type { Plugin } from "./plugin.ts";
import { functionConsumer } from "./queue/function-consumer.ts";
import { QueuePlugin } from "./queue/plugin.ts";
import { SchedulePlugin } from "./schedule/plugin.ts";

/** What the emulator gives its plugins. */
export interface PluginsContext {
  /** The app folder. */
  root: string;
  stateDir: string;
  /** The address to bind, and the S3 endpoint's port (0: a free one). */
  host: string;
  s3Port: number;
  credentials: Credentials;
  clock: Clock;
  work: Work;
  logger: Logger;
  workers: SpareWorkers;
  /** Serves a call a function makes on one of its links: the plugin of the link's kind answers it. */
  call(from: string, link: LinkSpec, method: string, args: unknown): Promise<unknown>;
}

/**
 * Every plugin of the emulator, one line per resource kind, keyed by kind. The order is
 * the start order: buckets open before the functions that link them, functions before
 * the queues that deliver to them, queues before the bus and schedules that deliver into
 * them. A pairing of two kinds is handed in here (a queue's consumer is a function).
 */
export function createPlugins(ctx: PluginsContext) {
  const { stateDir, clock, work, logger } = ctx;
  const host = (name: string) => fn.host(name);
  const bucket = new BucketPlugin({ ...ctx, port: ctx.s3Port, put: async (name, entries) => bus.put(name, entries) });
  const fn = new FunctionPlugin({ ...ctx, clock: clock.mode === "manual" ? clock.shared : undefined });
  const queue = new QueuePlugin({
    stateDir,
    clock,
    work,
    logger,
    consumer: (q, spec) => functionConsumer(q, spec, host),
  });
  const bus = new BusPlugin({ queues: queue, clock, logger, host });
  const schedule = new SchedulePlugin({ queues: queue, bus, clock, logger, host });
  return { bucket, function: fn, queue, bus, schedule } satisfies Record<string, Plugin>;
}

/** The running plugins, by kind. */
export type Plugins = ReturnType<typeof createPlugins>;
