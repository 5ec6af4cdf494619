import type { LinkSpec } from "@nimbus/core";
import type { BuildRest } from "../build/build-rest.ts";
import type { Clock } from "../clock/clock.ts";
import type { Work } from "../clock/work.ts";
import type { Logger } from "../logs/logger.ts";
import type { Credentials } from "../state/credentials.ts";
import { BucketPlugin } from "./bucket-plugin.ts";
import { BusPlugin } from "./bus/plugin.ts";
import { FunctionPlugin } from "./function/plugin.ts";
import type { SpareWorkers } from "./function/spare-workers.ts";
import { LoopGuard } from "./loop-guard.ts";
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
  /** Whether the emulator serves a request's Host: undefined when it does, else why not. */
  checkHost(host: string | undefined): string | undefined;
  clock: Clock;
  work: Work;
  logger: Logger;
  workers: SpareWorkers;
  /** Every esbuild build runs through it, so the service can be stopped at rest. */
  builds: BuildRest;
  /** Serves a call a function makes on one of its links: the plugin of the link's kind answers it. */
  call(from: string, link: LinkSpec, method: string, args: unknown): Promise<unknown>;
}

/**
 * Every plugin of the emulator, one line per resource kind, keyed by kind. The order is
 * the start order: the loop guard takes each graph before anything is delivered (it is
 * no kind), buckets open before the functions that link them, functions before
 * the queues that deliver to them, queues before the bus and schedules that deliver into
 * them. A pairing of two kinds is handed in here (a queue's consumer is a function).
 */
export function createPlugins(ctx: PluginsContext) {
  const { stateDir, clock, work, logger } = ctx;
  const host = (name: string) => fn.host(name);
  const loops = new LoopGuard({ logger });
  const bucket = new BucketPlugin({
    ...ctx,
    port: ctx.s3Port,
    put: async (name, entries, chain) => bus.put(name, entries, chain),
  });
  const fn = new FunctionPlugin({ ...ctx, clock: clock.mode === "manual" ? clock.shared : undefined });
  const queue = new QueuePlugin({
    stateDir,
    clock,
    work,
    logger,
    consumer: (q, spec) => functionConsumer(q, spec, host, loops),
  });
  const bus = new BusPlugin({ queues: queue, clock, logger, host, loops });
  const schedule = new SchedulePlugin({ queues: queue, bus, clock, logger, host });
  return { loop: loops, bucket, function: fn, queue, bus, schedule } satisfies Record<string, Plugin>;
}

/** The running plugins, by kind. */
export type Plugins = ReturnType<typeof createPlugins>;
