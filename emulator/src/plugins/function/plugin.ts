import { join, resolve } from "node:path";
import {
  type FunctionSpec,
  type Graph,
  type LinkSpec,
  type ResourceOf,
  resourcesOf,
  unknownResource,
} from "@nimbus/core";
import type { BuildRest } from "../../build/build-rest.ts";
import type { Work } from "../../clock/work.ts";
import { routeParams } from "../../gateway/route-params.ts";
import { buildRouter, type Routes } from "../../gateway/router.ts";
import type { Logger } from "../../logs/logger.ts";
import { readDotEnv } from "../../state/dotenv.ts";
import type { Plugin, Service } from "../plugin.ts";
import { FunctionBundler } from "./bundler.ts";
import { FunctionHost } from "./host.ts";
import type { SpareWorkers } from "./spare-workers.ts";
import { workerRuntime } from "./worker-runtime.ts";

export interface FunctionPluginContext {
  /** The app folder: handlers and `.env` are found from it. */
  root: string;
  stateDir: string;
  logger: Logger;
  /** Serves a call a function makes on one of its links (the emulator hands it to the link's kind). */
  call(from: string, link: LinkSpec, method: string, args: unknown): Promise<unknown>;
  /** Where the functions' workers come from. */
  workers: SpareWorkers;
  /** Every build runs through it, so esbuild's service can be stopped at rest. */
  builds: BuildRest;
  /** A manual clock's shared time; undefined on the real clock. */
  clock?: SharedArrayBuffer;
  /** The emulator's background work: each run counts until its worker is done with it. */
  work: Pick<Work, "track">;
}

export interface RunningFunction {
  name: string;
  spec: FunctionSpec;
  host: FunctionHost;
  bundler: FunctionBundler;
  /** The local files its bundle was built from. */
  inputs: string[];
}

/** Functions in the emulator: each bundled by esbuild and run in its own worker threads, behind the app's routes. */
export class FunctionPlugin implements Plugin {
  readonly kind = "function";
  readonly stateEntries = ["build"];
  readonly #ctx: FunctionPluginContext;
  readonly #functions = new Map<string, RunningFunction>();
  #graph: Graph | undefined;
  #router: Routes | undefined;
  /** Every bundler with a build context, a function's being started too: what `releaseBuilds` drops. */
  readonly #bundlers = new Set<FunctionBundler>();
  /** Where the worker runtime is, which every function's workers load (worker-runtime.ts). */
  #runtime: Promise<string> | undefined;

  readonly services: Readonly<Record<string, Service>> = {
    /** A linked function's `fetch`: the request goes to its host as a direct call would. */
    fetch: async ({ resource, args }: { resource: string; args: unknown }) => {
      const target = this.#functions.get(resource);
      if (!target) return new Response(`function "${resource}" is not running\n`, { status: 503 });
      return fetchOf(target, args as Request);
    },
  };

  constructor(ctx: FunctionPluginContext) {
    this.#ctx = ctx;
  }

  /** Builds every function; their workers start on the first request, or in `warm`. */
  async start(graph: Graph): Promise<void> {
    this.#graph = graph;
    const secrets = await readDotEnv(join(this.#ctx.root, ".env"));
    await Promise.all(resourcesOf(graph, "function").map((fn) => this.#start(fn, secrets, false)));
    this.#router = undefined;
  }

  /** Starts new functions, restarts changed ones (the new one serves before the old one stops), stops removed ones. */
  async apply(graph: Graph): Promise<string[]> {
    const changes: string[] = [];
    const secrets = await readDotEnv(join(this.#ctx.root, ".env"));
    const wanted = new Map(resourcesOf(graph, "function").map((fn) => [fn.name, fn]));
    for (const [name, running] of this.#functions) {
      const resource = wanted.get(name);
      if (!resource) {
        this.#functions.delete(name);
        await this.#stop(running);
        changes.push(`removed ${name}`);
      } else if (plan(running.spec, resource.spec) === "restart") {
        await this.#start(resource, secrets);
        await this.#stop(running);
        changes.push(`restarted ${name}`);
      }
    }
    for (const [name, resource] of wanted) {
      if (this.#functions.has(name)) continue;
      await this.#start(resource, secrets);
      changes.push(`started ${name}`);
    }
    this.#graph = graph;
    this.#router = undefined;
    return changes;
  }

  /** Functions hold no state of their own; their builds stay. */
  async reset(): Promise<void> {}

  /** Waits for running invocations (each bound by its timeout), then stops every worker. */
  async close(): Promise<void> {
    await Promise.all([...this.#functions.values()].map((fn) => this.#stop(fn)));
    this.#functions.clear();
  }

  /** The app's routes, each calling its function's host. */
  routes(): Routes {
    this.#router ??= buildRouter(this.#graph!, (name) => this.#functions.get(name)?.host);
    return this.#router;
  }

  /** The running host of function `name`, to run its handlers. */
  host(name: string): FunctionHost | undefined {
    return this.#functions.get(name)?.host;
  }

  /** Drops every function's incremental build context (the next build makes it again): for `BuildRest`. */
  async releaseBuilds(): Promise<void> {
    await Promise.all([...this.#bundlers].map((bundler) => bundler.dispose()));
  }

  /** Every running function, for the file watcher. */
  running(): Iterable<RunningFunction> {
    return this.#functions.values();
  }

  /** Calls function `name`'s `fetch` directly, routes or not. */
  async invoke(name: string, request: Request, app: string): Promise<Response> {
    const running = this.#functions.get(name);
    if (!running) throw unknownResource("function", name, [...this.#functions.keys()], app);
    return fetchOf(running, request);
  }

  /**
   * Starts the workers one after another: a request meanwhile starts its own function's
   * worker at once, rather than queueing behind all of them. A module that fails to load is logged.
   */
  async warm(stopped: () => boolean): Promise<void> {
    for (const running of [...this.#functions.values()]) {
      if (stopped()) return;
      try {
        await running.host.warm();
      } catch (error) {
        this.#ctx.logger.log({ fn: running.name, level: "error", message: (error as Error).message });
      }
    }
  }

  /** Rebuilds a function after a source change and swaps the new code in. */
  async reload(running: RunningFunction): Promise<void> {
    const bundle = await this.#ctx.builds.during(() => running.bundler.build());
    await running.host.swap(bundle.file);
    running.inputs = bundle.inputs;
  }

  /**
   * Builds the function; with `wait`, also starts its worker and waits until it is ready.
   * Otherwise the first request (or `warm`) starts it.
   */
  async #start(resource: ResourceOf<"function">, secrets: Record<string, string>, wait = true): Promise<void> {
    const ctx = this.#ctx;
    const { name, spec } = resource;
    const bundler = new FunctionBundler({
      name,
      entry: resolve(ctx.root, spec.handler),
      outDir: join(ctx.stateDir, "build", "functions"),
    });
    this.#bundlers.add(bundler);
    try {
      const [bundle, runtime] = await ctx.builds.during(() => Promise.all([bundler.build(), this.#workerRuntime()]));
      const host = new FunctionHost({
        runtime,
        name,
        spec,
        bundle: bundle.file,
        values: envValues(name, spec, secrets, ctx.logger),
        stateDir: ctx.stateDir,
        clock: ctx.clock,
        logger: ctx.logger,
        callLink: (link, method, request) => ctx.call(name, link, method, request) as Promise<Response>,
        callService: (link, method, args) => ctx.call(name, link, method, args),
        workers: ctx.workers,
        track: (finished) => ctx.work.track(finished),
      });
      if (wait) await host.warm();
      this.#functions.set(name, { name, spec, host, bundler, inputs: bundle.inputs });
    } catch (error) {
      await this.#stopBundler(bundler);
      throw error;
    }
  }

  #workerRuntime(): Promise<string> {
    this.#runtime ??= workerRuntime();
    return this.#runtime;
  }

  async #stop(running: RunningFunction): Promise<void> {
    await running.host.stop();
    await this.#stopBundler(running.bundler);
  }

  async #stopBundler(bundler: FunctionBundler): Promise<void> {
    this.#bundlers.delete(bundler);
    await bundler.dispose();
  }
}

function fetchOf(running: RunningFunction, request: Request): Promise<Response> {
  return running.host.fetch(request, routeParams(running.spec.routes, request.method, new URL(request.url).pathname));
}

/**
 * What a changed spec needs. Routes belong to the gateway, so a change of routes alone
 * keeps the running function; anything else restarts it.
 */
function plan(current: FunctionSpec, next: FunctionSpec): "keep" | "restart" {
  const { routes: _a, ...a } = current;
  const { routes: _b, ...b } = next;
  return JSON.stringify(a) === JSON.stringify(b) ? "keep" : "restart";
}

function envValues(
  name: string,
  spec: FunctionSpec,
  secrets: Record<string, string>,
  logger: Logger,
): Record<string, string | number | boolean> {
  const values: Record<string, string | number | boolean> = { ...spec.config };
  for (const secret of spec.secrets) {
    const value = secrets[secret];
    if (value === undefined) {
      logger.warn(`secret ${secret} of function "${name}" is not set: add ${secret}=... to .env beside nimbus.app.ts`);
    } else {
      values[secret] = value;
    }
  }
  return values;
}
