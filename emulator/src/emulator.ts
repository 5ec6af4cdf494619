import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { getRequestListener } from "@hono/node-server";
import { type Duration, formatIssue, type Graph, GraphError, type LinkSpec, NimbusError } from "@nimbus/core";
import type { BucketClient, BusClient, QueueClient } from "@nimbus/runtime";
import { busClient, queueClient } from "@nimbus/runtime/target";
import { stop as stopEsbuild } from "esbuild";
import type { Hono } from "hono";
import { BuildRest } from "./build/build-rest.ts";
import { Clock } from "./clock/clock.ts";
import { Work } from "./clock/work.ts";
import { controlApi, controlTokenHeader } from "./gateway/control.ts";
import { type AllowedHosts, hostCheck } from "./gateway/host-check.ts";
import { pathOf, type Routes } from "./gateway/router.ts";
import { findAppFile, loadApp } from "./loader/load-app.ts";
import { type LogEntry, type LogFormat, Logger } from "./logs/logger.ts";
import { collectWhenIdle } from "./memory/idle-collection.ts";
import { s3Region } from "./plugins/bucket-plugin.ts";
import { SpareWorkers } from "./plugins/function/spare-workers.ts";
import type { Plugin } from "./plugins/plugin.ts";
import type { DeadLetteredMessage } from "./plugins/queue/plugin.ts";
import type { QueueStats } from "./plugins/queue/store.ts";
import { createPlugins, type Plugins } from "./plugins/registry.ts";
import { Reloader } from "./reload/reloader.ts";
import { type Credentials, credentialsFile, loadCredentials } from "./state/credentials.ts";
import { emulatorInfoFile, newControlToken, removeEmulatorInfo, writeEmulatorInfo } from "./state/emulator-info.ts";
import { refuseIfRunning } from "./state/running-emulator.ts";

export interface EmulatorOptions {
  /** The folder holding nimbus.app.ts. */
  root: string;
  /**
   * Port on 127.0.0.1; 0 picks a free one.
   * @default 0
   */
  port?: number;
  /**
   * Address to bind. Anything but loopback exposes the app to the network.
   * @default "127.0.0.1"
   */
  host?: string;
  /**
   * Host names the emulator answers besides localhost, `*.localhost`, IP addresses and
   * `host`; a request for any other name (a web page reaching it by DNS rebinding) gets
   * 403. `.example.com` allows that name and every name under it; `true` answers any
   * name, which lets any web page you open reach the app.
   * @default []
   * @example ["myapp.test", ".dev.example.com"]
   */
  allowedHosts?: AllowedHosts;
  /**
   * Port of the S3-compatible endpoint on the same host; 0 picks a free one.
   * @default 0
   */
  s3Port?: number;
  /**
   * Folder for durable state. Without it, a fresh temporary folder is used and removed
   * on close, so parallel tests never share state; `nimbus dev` passes `<root>/.nimbus`.
   */
  state?: string;
  /**
   * `"manual"`: nothing time-driven happens until the test advances the clock.
   * @default "real"
   */
  clock?: "real" | "manual";
  /**
   * Console output: `pretty` (coloured on a TTY), `json` lines, or `silent`.
   * @default "silent"
   */
  logFormat?: LogFormat;
  /**
   * How many of the latest log entries `logs` keeps. `nimbus dev` keeps none: it prints
   * them, and holding 10,000 entries made every request's entry outlive the young
   * generation, which cost a busy emulator about a fifth of its throughput.
   * @default 10_000
   */
  keepLogs?: number;
  /**
   * Rebuild and swap on file changes.
   * @default true
   */
  watch?: boolean;
  /**
   * Milliseconds without a build after which esbuild's service is stopped, which gives
   * back its memory (about 60 MB with ten functions); the next build starts it again and
   * takes about 20 ms longer. Unset, the service keeps running: it belongs to the whole
   * process, and other code there (a test runner's, say) may be building with it too.
   * `nimbus dev` sets 2,000.
   */
  buildServiceIdleMs?: number;
  /**
   * The process is the emulator's own: its main thread collects its garbage once it goes
   * quiet after a burst of work, as each function's worker always does
   * (memory/idle-collection.ts). Unset, the main thread is left to V8: other code (a test
   * runner's) runs there too. `nimbus dev` sets it.
   */
  collectWhenIdle?: boolean;
}

/** The emulator's time, as tests see it. */
export interface EmulatorClock {
  readonly mode: "real" | "manual";
  /** Milliseconds since the epoch. */
  now(): number;
  /** Moves a manual clock forward; throws on the real clock. */
  advance(by: Duration | number): Promise<void>;
}

/** How to reach the emulator's buckets with an S3 client. */
export interface EmulatorS3 {
  /** `http://127.0.0.1:<port>`: use it path-style (`forcePathStyle: true`). */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** A queue as tests drive it. */
export interface EmulatorQueue extends QueueClient {
  stats(): QueueStats;
  /** For a dead-letter queue: moves its messages back to the queues they died in. */
  redrive(): Record<string, number>;
  /** Deletes every message in the queue (a dead-letter queue's, say), those being delivered too; returns how many. */
  purge(): number;
  /** For a dead-letter queue: what waits in it, oldest first, with where and why each died. */
  deadLettered(limit?: number): DeadLetteredMessage[];
}

/** A schedule as tests drive it. */
export interface EmulatorSchedule {
  /** Fires the schedule now, out of turn; resolves with the tick's time once its delivery is stored. */
  trigger(): Promise<{ scheduledTime: number }>;
  /** When it fires next on the emulator's clock; undefined when it never will. */
  next(): Date | undefined;
}

/** A running emulator: the app's routes on `url`, its state under `state`. */
export interface Emulator extends AsyncDisposable {
  readonly url: string;
  readonly root: string;
  readonly state: string;
  /**
   * This run's secret for the control API (`/_nimbus/…`), also in `<state>/emulator.json`.
   * `fetch` and `invoke` send it; another client sends it in the `x-nimbus-token` header.
   */
  readonly controlToken: string;
  /** `clock.now()`; with `clock: "manual"`, `await clock.advance("5m")` moves time on. */
  readonly clock: EmulatorClock;
  readonly graph: Graph;
  /** Every log line so far: handlers' console output, requests, and the emulator's own. */
  readonly logs: readonly LogEntry[];
  /** A request to the app, by path (`"/orders/1"`) or full URL. */
  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** Calls a function's `fetch` directly, routes or not. */
  invoke(fn: string, input: string | URL | Request, init?: RequestInit): Promise<Response>;
  /** The S3-compatible endpoint: everything an S3 client needs to reach the buckets. */
  readonly s3: EmulatorS3;
  /** A bucket of the app, with the same methods as the binding functions get: to seed and check state in tests. */
  bucket(name: string): BucketClient;
  /** A queue of the app: the binding's `send` and `sendBatch`, plus `stats()`. */
  queue(name: string): EmulatorQueue;
  /** A bus of the app: the binding's `put`, so tests can put events as functions do. */
  bus(name: string): BusClient;
  /** A schedule of the app: fire it now, or see when it fires next. */
  schedule(name: string): EmulatorSchedule;
  /**
   * Resolves once no delivery, bus routing or notification is running and none is due
   * now (work due later, such as a back-off or a schedule's next tick, is not waited for).
   */
  idle(): Promise<void>;
  /** Reads the app file again and applies what changed. */
  reload(): Promise<void>;
  /** Empties all state. */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** Bodies up to this size (with a Content-Length) are read whole and sent to the worker as bytes. */
const smallBody = 64 * 1024;

/**
 * Starts the emulator for the app in `options.root`: builds every function, serves the
 * routes over HTTP on 127.0.0.1 and watches the sources.
 */
export async function createEmulator(options: EmulatorOptions): Promise<Emulator> {
  const emulator = new LocalEmulator(options);
  try {
    await emulator.start();
  } catch (error) {
    await emulator.close();
    throw error;
  }
  return emulator;
}

class LocalEmulator implements Emulator {
  readonly root: string;
  readonly clock: Clock;
  state = "";
  url = "";
  graph!: Graph;
  readonly #options: EmulatorOptions;
  readonly #logger: Logger;
  readonly controlToken = newControlToken();
  readonly #checkHost: (host: string | null | undefined) => string | undefined;
  #credentials: Credentials | undefined;
  #plugins: Plugins | undefined;
  readonly #work = new Work();
  readonly #workers = new SpareWorkers();
  readonly #builds: BuildRest;
  #control: Hono;
  #server: Server | undefined;
  #reloader: Reloader | undefined;
  #temporaryState = false;
  #appInputs: string[] = [];
  #closed: Promise<void> | undefined;
  #stopCollecting: (() => void) | undefined;

  constructor(options: EmulatorOptions) {
    this.#options = options;
    this.root = resolve(options.root);
    this.clock = new Clock(options.clock ?? "real");
    this.clock.work = this.#work;
    this.#logger = new Logger({
      format: options.logFormat ?? "silent",
      color: process.stdout.isTTY,
      keep: options.keepLogs,
    });
    this.#checkHost = hostCheck(options.host ?? "127.0.0.1", options.allowedHosts);
    if (options.collectWhenIdle) this.#stopCollecting = collectWhenIdle();
    this.#builds = new BuildRest({
      restMs: options.buildServiceIdleMs,
      rest: async () => {
        await this.#plugins?.function.releaseBuilds();
        await stopEsbuild();
      },
    });
    this.#control = controlApi({
      token: this.controlToken,
      tokenFile: () => join(this.state, emulatorInfoFile),
      graph: () => this.graph,
      invoke: (fn, request) => this.#running.function.invoke(fn, request, this.graph.app),
      queues: () => {
        const queues = this.#running.queue;
        return Object.fromEntries(queues.names().map((name) => [name, queues.stats(name)]));
      },
      deliveries: () => this.#running.queue.pendingDeliveries(),
      send: async (queue, bodies) => {
        let ids: string[] = [];
        await queueClient(queue, {
          send: async (messages) => {
            ids = this.#running.queue.send(queue, messages);
          },
        }).sendBatch(bodies.map((body) => ({ body })));
        return ids;
      },
      redrive: (queue) => this.#running.queue.redrive(queue),
      // Bytes bodies travel as base64, so the answer stays JSON.
      deadLettered: (queue, limit) =>
        this.#running.queue.deadLettered(queue, limit).map((m) => ({
          ...m,
          body: m.body instanceof Uint8Array ? { base64: Buffer.from(m.body).toString("base64") } : m.body,
        })),
      purge: (queue) => this.#running.queue.purge(queue),
      emit: async (bus, entries) => this.#running.bus.put(bus, entries),
      trigger: async (schedule) => this.#running.schedule.trigger(schedule),
    });
  }

  get s3(): EmulatorS3 {
    return { endpoint: this.#plugins?.bucket.url ?? "", region: s3Region, ...this.#credentials!.s3 };
  }

  get logs(): readonly LogEntry[] {
    return this.#logger.entries;
  }

  /** The plugins, once started. */
  get #running(): Plugins {
    return this.#plugins!;
  }

  /** The plugins in the registry's order. */
  #each(): Plugin[] {
    return this.#plugins ? Object.values(this.#plugins) : [];
  }

  async start(): Promise<void> {
    // Fail on a wrong folder before creating anything in it.
    findAppFile(this.root);
    if (this.#options.state) {
      this.state = resolve(this.#options.state);
      await mkdir(this.state, { recursive: true });
      refuseIfRunning(this.state, this.root);
    } else {
      this.state = await mkdtemp(join(tmpdir(), "nimbus-emulator-"));
      this.#temporaryState = true;
    }
    this.#credentials = await loadCredentials(this.state);
    const loaded = await this.#builds.during(() => loadApp(this.root));
    this.graph = loaded.graph;
    this.#appInputs = loaded.inputs;
    this.#plugins = createPlugins({
      root: this.root,
      stateDir: this.state,
      host: this.#options.host ?? "127.0.0.1",
      s3Port: this.#options.s3Port ?? 0,
      credentials: this.#credentials,
      checkHost: this.#checkHost,
      clock: this.clock,
      work: this.#work,
      logger: this.#logger,
      workers: this.#workers,
      builds: this.#builds,
      call: (from, link, method, args) => this.#call(from, link, method, args),
    });
    for (const plugin of this.#each()) await plugin.start(this.graph);
    for (const plugin of this.#each()) plugin.ready?.();
    await this.#listen();
    // Again, for one that started meanwhile.
    if (this.#options.state) refuseIfRunning(this.state, this.root);
    await writeEmulatorInfo(this.state, {
      url: this.url,
      s3: this.s3.endpoint,
      pid: process.pid,
      app: this.graph.app,
      startedAt: new Date().toISOString(),
      token: this.controlToken,
    });
    void this.#warmUp();
    if (this.#options.watch ?? true) {
      const functions = this.#running.function;
      this.#reloader = new Reloader({
        logger: this.#logger,
        appInputs: () => this.#appInputs,
        functions: () => functions.running(),
        reloadApp: () => this.reload(),
        reloadFunction: (fn) => functions.reload(fn),
      });
      await this.#reloader.start();
    }
  }

  async #listen(): Promise<void> {
    const hostname = this.#options.host ?? "127.0.0.1";
    const port = this.#options.port ?? 0;
    const listener = getRequestListener((request: Request) => this.#handle(request), { hostname });
    const server = createServer((incoming, outgoing) => {
      if (!this.#serveRoute(incoming, outgoing, hostname)) void listener(incoming, outgoing);
    });
    this.#server = server;
    await new Promise<void>((resolveListen, reject) => {
      server.once("error", (error: NodeJS.ErrnoException) => {
        reject(
          error.code === "EADDRINUSE"
            ? new NimbusError(
                "NIMBUS_EMULATOR_PORT_IN_USE",
                `Port ${port} on ${hostname} is in use (another nimbus dev?). Stop that process or pass --port <another>.`,
              )
            : error,
        );
      });
      server.listen(port, hostname, () => resolveListen());
    });
    const address = server.address() as AddressInfo;
    const shownHost = address.family === "IPv6" ? `[${address.address}]` : address.address;
    this.url = `http://${shownHost}:${address.port}`;
  }

  /**
   * The app's routes without WHATWG objects in this thread, for requests without a body or
   * with a small one of known length (most of them): the function's host reads the request
   * and writes the response itself. Returns false for what `#handle` serves instead: the
   * control API, refused hosts, HEAD, and bodies that stream.
   */
  #serveRoute(incoming: IncomingMessage, outgoing: ServerResponse, hostname: string): boolean {
    const target = incoming.url ?? "";
    const method = incoming.method ?? "GET";
    if (target[0] !== "/" || method === "HEAD") return false;
    const { headers } = incoming;
    if (headers["transfer-encoding"] !== undefined) return false;
    const declared = Number(headers["content-length"] ?? 0);
    if (declared > smallBody) return false;
    const query = target.indexOf("?");
    const pathname = query === -1 ? target : target.slice(0, query);
    if (pathname === "/_nimbus" || pathname.startsWith("/_nimbus/")) return false;
    if (this.#checkHost(headers.host) !== undefined) return false;
    const url = `http://${headers.host ?? hostname}${target}`;
    const found = this.#routes()?.match(method, pathOf(url));
    // No route (the 404 lists the routes), a function not running, a body over its limit: `#handle` answers those.
    if (!found?.host || declared > found.host.spec.maxBodySize) return false;
    found.host.serveHttp(incoming, outgoing, { url, path: pathname }, found.params);
    return true;
  }

  #routes(): Routes | undefined {
    return this.#plugins?.function.routes();
  }

  #handle(request: Request): Response | Promise<Response> {
    const refused = this.#checkHost(request.headers.get("host"));
    if (refused !== undefined) {
      return Response.json({ error: { code: "NIMBUS_EMULATOR_HOST", message: refused } }, { status: 403 });
    }
    const { pathname } = new URL(request.url);
    if (pathname === "/_nimbus" || pathname.startsWith("/_nimbus/")) return this.#control.fetch(request);
    const routes = this.#routes();
    return routes ? routes.app.fetch(request) : new Response("No routes\n", { status: 404 });
  }

  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const request = new Request(input instanceof Request ? input : new URL(String(input), this.url), init);
    const url = new URL(request.url);
    const control = url.pathname === "/_nimbus" || url.pathname.startsWith("/_nimbus/");
    // The control API needs the run's token; the app's routes never get it.
    if (control && url.origin === new URL(this.url).origin && !request.headers.has(controlTokenHeader)) {
      request.headers.set(controlTokenHeader, this.controlToken);
    }
    return fetch(request);
  }

  invoke(fn: string, input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const path = input instanceof Request ? new URL(input.url).pathname : String(input);
    return this.fetch(`/_nimbus/invoke/${encodeURIComponent(fn)}${path.startsWith("/") ? "" : "/"}${path}`, init);
  }

  bucket(name: string): BucketClient {
    return this.#running.bucket.client(name, this.graph.app);
  }

  queue(name: string): EmulatorQueue {
    const queues = this.#running.queue;
    // Fails now, naming the app's queues, when there is no such queue.
    queues.assertQueue(name);
    const client = queueClient(name, {
      send: async (messages) => {
        queues.send(name, messages);
      },
    });
    return {
      ...client,
      stats: () => queues.stats(name),
      redrive: () => queues.redrive(name),
      purge: () => queues.purge(name),
      deadLettered: (limit) => queues.deadLettered(name, limit),
    };
  }

  bus(name: string): BusClient {
    const bus = this.#running.bus;
    // Fails now, naming the app's buses, when there is no such bus.
    bus.assertBus(name);
    return busClient({ put: async (entries) => bus.put(name, entries) });
  }

  schedule(name: string): EmulatorSchedule {
    const schedules = this.#running.schedule;
    schedules.nextTick(name);
    return {
      trigger: async () => schedules.trigger(name),
      next: () => {
        const at = schedules.nextTick(name);
        return at === undefined ? undefined : new Date(at);
      },
    };
  }

  idle(): Promise<void> {
    return this.#work.idle();
  }

  /** A binding call from a function's worker: the plugin of the link's kind serves it, checking the data. */
  async #call(from: string, link: LinkSpec, method: string, args: unknown): Promise<unknown> {
    const plugin: Plugin | undefined = this.#plugins?.[link.kind as keyof Plugins];
    const service = plugin?.services?.[method];
    if (!service) {
      throw new NimbusError(
        "NIMBUS_EMULATOR_UNSUPPORTED",
        `function "${from}" called ${method} on ${link.kind} "${link.resource}", which the emulator does not serve yet`,
      );
    }
    return service({ from, resource: link.resource, args });
  }

  /**
   * Starts the workers one after another shortly after the server listens: a request
   * meanwhile starts its own function's worker at once, rather than queueing behind all of them.
   */
  async #warmUp(): Promise<void> {
    // Give requests that arrive right at start-up (a browser already open on the app) the CPU first.
    await new Promise((resolve) => setTimeout(resolve, 100).unref());
    await this.#running.function.warm(() => this.#closed !== undefined);
  }

  async reload(): Promise<void> {
    let next: Awaited<ReturnType<typeof loadApp>>;
    try {
      next = await this.#builds.during(() => loadApp(this.root));
    } catch (error) {
      this.#logger.error(
        `the app file has problems; still serving the last good version:\n${GraphError.isGraphError(error) ? error.issues.map((i) => `  • ${formatIssue(i)}`).join("\n") : (error as Error).message}`,
      );
      throw error;
    }
    const changes: string[] = [];
    // In the registry's order: new buckets open before the functions that link them start.
    for (const plugin of this.#each()) changes.push(...(await plugin.apply(next.graph)));
    this.graph = next.graph;
    this.#appInputs = next.inputs;
    for (const plugin of this.#each()) plugin.ready?.();
    this.#reloader?.refresh();
    this.#logger.info(`app reloaded${changes.length ? `: ${changes.join(", ")}` : "; no function changed"}`);
  }

  async reset(): Promise<void> {
    const kept = new Set([credentialsFile, emulatorInfoFile]);
    for (const plugin of this.#each()) {
      await plugin.reset();
      for (const entry of plugin.stateEntries ?? []) kept.add(entry);
    }
    for (const entry of await readdir(this.state)) {
      // Open stores were emptied in place above; their files stay.
      if (!kept.has(entry)) await rm(join(this.state, entry), { recursive: true, force: true });
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    this.#stopCollecting?.();
    await this.#reloader?.stop();
    await this.#builds.close();
    const server = this.#server;
    const closed = server && new Promise<void>((done) => server.close(() => done()));
    // Stop accepting; requests in flight finish, then idle keep-alive sockets close.
    (server as { closeIdleConnections?: () => void } | undefined)?.closeIdleConnections?.();
    this.clock.stop();
    // Last started, first closed: schedules stop firing before the queues close, queues
    // finish their batches before the functions stop.
    for (const plugin of this.#each().reverse()) await plugin.close();
    if (server) {
      // Responses still streaming get a moment to finish before their sockets are closed.
      await Promise.race([closed, new Promise((done) => setTimeout(done, 1_000).unref())]);
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      await closed;
    }
    await this.#work.drain();
    await this.#workers.close();
    if (this.state) await removeEmulatorInfo(this.state, this.controlToken);
    this.#logger.flush();
    if (this.#temporaryState && this.state) await rm(this.state, { recursive: true, force: true });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
