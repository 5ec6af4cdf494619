import { join, resolve } from "node:path";
import type { FunctionSpec, LinkSpec, ResourceOf } from "@nimbus/core";
import type { Logger } from "../../logs/logger.ts";
import { FunctionBundler } from "./bundler.ts";
import { FunctionHost } from "./host.ts";
import type { SpareWorkers } from "./spare-workers.ts";

export interface FunctionPluginContext {
  root: string;
  stateDir: string;
  logger: Logger;
  /** Values from the app's `.env`, for the secrets functions declare. */
  secrets: Record<string, string>;
  callService(
    from: string,
    link: LinkSpec,
    method: string,
    args: unknown,
    invocationId: string | undefined,
  ): Promise<unknown>;
  callLink(
    from: string,
    link: LinkSpec,
    method: string,
    request: Request,
    invocationId: string | undefined,
  ): Promise<Response>;
  /** Where the functions' workers come from. */
  workers: SpareWorkers;
  /** A manual clock's shared time; undefined on the real clock. */
  clock?: SharedArrayBuffer;
}

export interface RunningFunction {
  name: string;
  spec: FunctionSpec;
  host: FunctionHost;
  bundler: FunctionBundler;
  /** The local files its bundle was built from. */
  inputs: string[];
}

/** Functions in the emulator: each bundled by esbuild and run in its own worker threads. */
export const functionPlugin = {
  /**
   * Builds the function; with `wait`, also starts its worker and waits until it is ready.
   * Otherwise the first request (or `warm`) starts it.
   */
  async start(resource: ResourceOf<"function">, ctx: FunctionPluginContext, wait = true): Promise<RunningFunction> {
    const { name, spec } = resource;
    const bundler = new FunctionBundler({
      name,
      entry: resolve(ctx.root, spec.handler),
      outDir: join(ctx.stateDir, "build", "functions"),
    });
    try {
      const bundle = await bundler.build();
      const host = new FunctionHost({
        name,
        spec,
        bundle: bundle.file,
        values: envValues(name, spec, ctx),
        stateDir: ctx.stateDir,
        clock: ctx.clock,
        logger: ctx.logger,
        callLink: (link, method, request, invocationId) => ctx.callLink(name, link, method, request, invocationId),
        callService: (link, method, args, invocationId) => ctx.callService(name, link, method, args, invocationId),
        workers: ctx.workers,
      });
      if (wait) await host.warm();
      return { name, spec, host, bundler, inputs: bundle.inputs };
    } catch (error) {
      await bundler.dispose();
      throw error;
    }
  },

  /** Starts the function's worker ahead of its first request; a module that fails to load is logged. */
  async warm(running: RunningFunction, logger: Logger): Promise<void> {
    try {
      await running.host.warm();
    } catch (error) {
      logger.log({ fn: running.name, level: "error", message: (error as Error).message });
    }
  },

  /** Rebuilds after a source change and swaps the new code in; returns the new inputs. */
  async reload(running: RunningFunction): Promise<void> {
    const bundle = await running.bundler.build();
    await running.host.swap(bundle.file);
    running.inputs = bundle.inputs;
  },

  /**
   * What a changed spec needs. Routes belong to the gateway, so a change of routes alone
   * keeps the running function; anything else restarts it.
   */
  plan(current: FunctionSpec, next: FunctionSpec): "keep" | "restart" {
    const { routes: _a, ...a } = current;
    const { routes: _b, ...b } = next;
    return JSON.stringify(a) === JSON.stringify(b) ? "keep" : "restart";
  },

  async stop(running: RunningFunction): Promise<void> {
    await running.host.stop();
    await running.bundler.dispose();
  },
};

function envValues(
  name: string,
  spec: FunctionSpec,
  ctx: FunctionPluginContext,
): Record<string, string | number | boolean> {
  const values: Record<string, string | number | boolean> = { ...spec.config };
  for (const secret of spec.secrets) {
    const value = ctx.secrets[secret];
    if (value === undefined) {
      ctx.logger.warn(
        `secret ${secret} of function "${name}" is not set: add ${secret}=... to .env beside nimbus.app.ts`,
      );
    } else {
      values[secret] = value;
    }
  }
  return values;
}
