import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { createAdaptorServer } from "@hono/node-server";
import {
  type Duration,
  type FunctionSpec,
  formatIssue,
  type Graph,
  GraphError,
  type LinkSpec,
  NimbusError,
  type ResourceOf,
  resourcesOf,
} from "@nimbus/core";
import type { BucketClient, BusClient, QueueClient } from "@nimbus/runtime";
import { bucketClient, busClient, queueClient } from "@nimbus/runtime/target";
import type { Hono } from "hono";
import { z } from "zod";
import { Clock } from "./clock/clock.ts";
import { Work } from "./clock/work.ts";
import { controlApi } from "./gateway/control.ts";
import { routeParams } from "./gateway/route-params.ts";
import { buildRouter } from "./gateway/router.ts";
import { findAppFile, loadApp } from "./loader/load-app.ts";
import { type LogEntry, type LogFormat, Logger } from "./logs/logger.ts";
import { BucketNotifier } from "./plugins/bucket/notifications.ts";
import { type BucketEntry, BucketRegistry } from "./plugins/bucket/plugin.ts";
import { type PresignRequest, presignRequestSchema, presignUrl } from "./plugins/bucket/presign.ts";
import { S3Endpoint } from "./plugins/bucket/s3/server.ts";
import { storeTransport } from "./plugins/bucket/transport.ts";
import { BusPlugin } from "./plugins/bus/plugin.ts";
import { functionPlugin, type RunningFunction } from "./plugins/function/plugin.ts";
import { SpareWorkers } from "./plugins/function/spare-workers.ts";
import { type DeadLetteredMessage, QueuePlugin } from "./plugins/queue/plugin.ts";
import type { QueueStats } from "./plugins/queue/store.ts";
import { SchedulePlugin } from "./plugins/schedule/plugin.ts";
import { Reloader } from "./reload/reloader.ts";
import { type Credentials, credentialsFile, loadCredentials } from "./state/credentials.ts";
import { readDotEnv } from "./state/dotenv.ts";

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
   * Rebuild and swap on file changes.
   * @default true
   */
  watch?: boolean;
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

/** Messages as bindings send them, checked at the boundary: worker messages can be forged. */
const wireMessagesSchema = z.object({
  messages: z.array(
    z.object({ format: z.enum(["json", "bytes"]), body: z.instanceof(Uint8Array), delay: z.number().optional() }),
  ),
});

/** The region the S3 endpoint reports; clients may sign for any region. */
const s3Region = "us-east-1";

function paramsFor(spec: FunctionSpec, request: Request): Record<string, string> {
  return routeParams(spec.routes, request.method, new URL(request.url).pathname);
}

class LocalEmulator implements Emulator {
  readonly root: string;
  readonly clock: Clock;
  state = "";
  url = "";
  graph!: Graph;
  readonly #options: EmulatorOptions;
  readonly #logger: Logger;
  readonly #functions = new Map<string, RunningFunction>();
  #buckets!: BucketRegistry;
  readonly #notifier: BucketNotifier;
  #credentials: Credentials | undefined;
  #s3: S3Endpoint | undefined;
  #queues: QueuePlugin | undefined;
  #bus: BusPlugin | undefined;
  #schedules: SchedulePlugin | undefined;
  readonly #work = new Work();
  readonly #workers = new SpareWorkers();
  #router: Hono | undefined;
  #control: Hono;
  #server: ReturnType<typeof createAdaptorServer> | undefined;
  #reloader: Reloader | undefined;
  #temporaryState = false;
  #appInputs: string[] = [];
  #closed: Promise<void> | undefined;

  constructor(options: EmulatorOptions) {
    this.#options = options;
    this.root = resolve(options.root);
    this.clock = new Clock(options.clock ?? "real");
    this.#logger = new Logger({ format: options.logFormat ?? "silent", color: process.stdout.isTTY });
    this.#notifier = new BucketNotifier({
      put: async (bus, entries) => this.#bus!.put(bus, entries),
      log: (level, message) => this.#logger.log({ level, message }),
    });
    this.#control = controlApi({
      graph: () => this.graph,
      invoke: (fn, request) => this.#invokeFunction(fn, request),
      queues: () => Object.fromEntries(this.#queues!.names().map((name) => [name, this.#queues!.stats(name)])),
      deliveries: () => this.#queues!.pendingDeliveries(),
      send: async (queue, bodies) => {
        let ids: string[] = [];
        await queueClient(queue, {
          send: async (messages) => {
            ids = this.#queues!.send(queue, messages);
          },
        }).sendBatch(bodies.map((body) => ({ body })));
        return ids;
      },
      redrive: (queue) => this.#queues!.redrive(queue),
      emit: async (bus, entries) => this.#bus!.put(bus, entries),
      trigger: async (schedule) => this.#schedules!.trigger(schedule),
    });
  }

  get s3(): EmulatorS3 {
    return { endpoint: this.#s3?.url ?? "", region: s3Region, ...this.#credentials!.s3 };
  }

  get logs(): readonly LogEntry[] {
    return this.#logger.entries;
  }

  async start(): Promise<void> {
    // Fail on a wrong folder before creating anything in it.
    findAppFile(this.root);
    if (this.#options.state) {
      this.state = resolve(this.#options.state);
      await mkdir(this.state, { recursive: true });
    } else {
      this.state = await mkdtemp(join(tmpdir(), "nimbus-emulator-"));
      this.#temporaryState = true;
    }
    this.#credentials = await loadCredentials(this.state);
    const loaded = await loadApp(this.root);
    this.graph = loaded.graph;
    this.#appInputs = loaded.inputs;
    this.#buckets = new BucketRegistry({
      stateDir: this.state,
      now: () => this.clock.now(),
      onChange: (entry) => this.#notify(entry),
    });
    this.#buckets.apply(this.#bucketResources(this.graph), true);
    const secrets = await readDotEnv(join(this.root, ".env"));
    await Promise.all(this.#functionResources(this.graph).map((fn) => this.#startFunction(fn, secrets, false)));
    const host = (fn: string) => this.#functions.get(fn)?.host;
    const { clock } = this;
    const logger = this.#logger;
    clock.work = this.#work;
    const queues = new QueuePlugin({ stateDir: this.state, clock, work: this.#work, logger, host });
    this.#queues = queues;
    this.#bus = new BusPlugin({ queues, clock, logger, host });
    this.#schedules = new SchedulePlugin({ queues, bus: this.#bus, clock, logger, host });
    this.#applyServices(this.graph);
    // Changes a killed process recorded but did not get to notify.
    for (const entry of this.#buckets.all()) this.#notify(entry);
    this.#router = buildRouter(this.graph, (name) => this.#functions.get(name)?.host);
    await this.#listen();
    this.#s3 = new S3Endpoint({
      host: this.#options.host ?? "127.0.0.1",
      port: this.#options.s3Port ?? 0,
      registry: this.#buckets,
      credentials: { ...this.#credentials.s3, region: s3Region },
      now: () => this.clock.now(),
      log: (level, message) => this.#logger.log({ level, message }),
    });
    await this.#s3.listen();
    void this.#warmUp();
    if (this.#options.watch ?? true) {
      this.#reloader = new Reloader({
        logger: this.#logger,
        appInputs: () => this.#appInputs,
        functions: () => this.#functions.values(),
        reloadApp: () => this.reload(),
        reloadFunction: (fn) => functionPlugin.reload(fn),
      });
      await this.#reloader.start();
    }
  }

  async #listen(): Promise<void> {
    const hostname = this.#options.host ?? "127.0.0.1";
    const port = this.#options.port ?? 0;
    const server = createAdaptorServer({
      fetch: (request: Request) => this.#handle(request),
      hostname,
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

  #handle(request: Request): Response | Promise<Response> {
    const { pathname } = new URL(request.url);
    if (pathname === "/_nimbus" || pathname.startsWith("/_nimbus/")) return this.#control.fetch(request);
    return this.#router!.fetch(request);
  }

  fetch(input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const target = input instanceof Request ? input : new Request(new URL(String(input), this.url), init);
    return fetch(target, input instanceof Request ? init : undefined);
  }

  invoke(fn: string, input: string | URL | Request, init?: RequestInit): Promise<Response> {
    const path = input instanceof Request ? new URL(input.url).pathname : String(input);
    return this.fetch(`/_nimbus/invoke/${encodeURIComponent(fn)}${path.startsWith("/") ? "" : "/"}${path}`, init);
  }

  bucket(name: string): BucketClient {
    const entry = this.#buckets.get(name);
    if (!entry?.declared) {
      const known =
        this.#buckets
          .declaredNames()
          .map((bucket) => `"${bucket}"`)
          .join(", ") || "none";
      throw new NimbusError(
        "NIMBUS_EMULATOR_UNKNOWN_BUCKET",
        `App "${this.graph.app}" has no bucket "${name}" (its buckets: ${known}).`,
      );
    }
    return bucketClient(
      name,
      storeTransport(
        () => entry.store,
        (key, options) => this.#presign(name, { key, ...options }),
      ),
    );
  }

  /** A SigV4 URL for the S3 endpoint, as a deployed S3 store hands out; the endpoint serves it. */
  #presign(bucket: string, request: PresignRequest): Promise<string> {
    return presignUrl({
      endpoint: this.#s3!.url,
      credentials: { ...this.#credentials!.s3, region: s3Region },
      bucket,
      request,
      now: this.clock.now(),
    });
  }

  queue(name: string): EmulatorQueue {
    const queues = this.#queues!;
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
      deadLettered: (limit) => queues.deadLettered(name, limit),
    };
  }

  bus(name: string): BusClient {
    const bus = this.#bus!;
    // Fails now, naming the app's buses, when there is no such bus.
    bus.assertBus(name);
    return busClient({ put: async (entries) => bus.put(name, entries) });
  }

  schedule(name: string): EmulatorSchedule {
    const schedules = this.#schedules!;
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

  /** Puts a bucket's recorded changes on the buses its notifications name, as tracked work. */
  #notify(entry: BucketEntry): void {
    // Notifications start once the bus is up; what is recorded before that waits in the outbox.
    if (this.#bus) this.#work.track(this.#notifier.drain(entry));
  }

  /** Queues first: the bus and schedules deliver into them. */
  #applyServices(graph: Graph): void {
    this.#queues!.apply(this.#queueResources(graph));
    this.#bus!.apply(graph);
    this.#schedules!.apply(graph);
  }

  #queueResources(graph: Graph): ResourceOf<"queue">[] {
    return resourcesOf(graph, "queue");
  }

  #bucketResources(graph: Graph): ResourceOf<"bucket">[] {
    return resourcesOf(graph, "bucket");
  }

  async #invokeFunction(fn: string, request: Request): Promise<Response> {
    const running = this.#functions.get(fn);
    if (!running) {
      const known = [...this.#functions.keys()].map((name) => `"${name}"`).join(", ") || "none";
      throw new NimbusError(
        "NIMBUS_EMULATOR_UNKNOWN_FUNCTION",
        `App "${this.graph.app}" has no function "${fn}" (its functions: ${known}).`,
      );
    }
    return running.host.fetch(request, paramsFor(running.spec, request));
  }

  async #callLink(from: string, link: LinkSpec, method: string, request: Request): Promise<Response> {
    if (link.kind === "function" && method === "fetch") {
      const target = this.#functions.get(link.resource);
      if (!target) return new Response(`function "${link.resource}" is not running\n`, { status: 503 });
      return target.host.fetch(request, paramsFor(target.spec, request));
    }
    throw new NimbusError(
      "NIMBUS_EMULATOR_UNSUPPORTED",
      `function "${from}" called ${method} on ${link.kind} "${link.resource}", which the emulator does not serve yet`,
    );
  }

  /** A service binding's call from a function's worker; the data is checked, since a worker can forge it. */
  async #callService(from: string, link: LinkSpec, method: string, args: unknown): Promise<unknown> {
    if (link.kind === "bucket" && method === "presign") {
      const parsed = presignRequestSchema.safeParse(args);
      if (!parsed.success) {
        throw new NimbusError(
          "NIMBUS_BUCKET_ARGUMENT",
          `bucket "${link.resource}": presign takes (key, { method: "GET" | "PUT", expiresIn }); function "${from}" sent something else`,
        );
      }
      return this.#presign(link.resource, parsed.data);
    }
    if (link.kind === "bucket" && method === "changed") {
      const entry = this.#buckets.get(link.resource);
      if (entry) this.#notify(entry);
      return undefined;
    }
    if (link.kind === "bus" && method === "put") {
      return this.#bus!.put(link.resource, (args as { entries?: unknown } | null)?.entries);
    }
    if (link.kind === "queue" && method === "send") {
      const parsed = wireMessagesSchema.safeParse(args);
      if (!parsed.success) {
        throw new NimbusError(
          "NIMBUS_QUEUE_BODY",
          `queue "${link.resource}": function "${from}" sent messages the emulator cannot read`,
        );
      }
      return this.#queues!.send(link.resource, parsed.data.messages);
    }
    throw new NimbusError(
      "NIMBUS_EMULATOR_UNSUPPORTED",
      `function "${from}" called ${method} on ${link.kind} "${link.resource}", which the emulator does not serve yet`,
    );
  }

  async #startFunction(resource: ResourceOf<"function">, secrets: Record<string, string>, wait = true): Promise<void> {
    const running = await functionPlugin.start(
      resource,
      {
        root: this.root,
        stateDir: this.state,
        logger: this.#logger,
        secrets,
        callLink: (from, link, method, request) => this.#callLink(from, link, method, request),
        callService: (from, link, method, args) => this.#callService(from, link, method, args),
        clock: this.clock.mode === "manual" ? this.clock.shared : undefined,
        workers: this.#workers,
      },
      wait,
    );
    this.#functions.set(resource.name, running);
  }

  /**
   * Starts the workers one after another shortly after the server listens: a request
   * meanwhile starts its own function's worker at once, rather than queueing behind all of them.
   */
  async #warmUp(): Promise<void> {
    // Give requests that arrive right at start-up (a browser already open on the app) the CPU first.
    await new Promise((resolve) => setTimeout(resolve, 100).unref());
    for (const running of [...this.#functions.values()]) {
      if (this.#closed) return;
      await functionPlugin.warm(running, this.#logger);
    }
  }

  #functionResources(graph: Graph): ResourceOf<"function">[] {
    return resourcesOf(graph, "function");
  }

  async reload(): Promise<void> {
    let next: Awaited<ReturnType<typeof loadApp>>;
    try {
      next = await loadApp(this.root);
    } catch (error) {
      this.#logger.error(
        `the app file has problems; still serving the last good version:\n${GraphError.isGraphError(error) ? error.issues.map((i) => `  • ${formatIssue(i)}`).join("\n") : (error as Error).message}`,
      );
      throw error;
    }
    const secrets = await readDotEnv(join(this.root, ".env"));
    const wanted = new Map(this.#functionResources(next.graph).map((fn) => [fn.name, fn]));
    // New buckets open before the functions that link them start.
    const changes = this.#buckets.apply(this.#bucketResources(next.graph), false);
    for (const [name, running] of this.#functions) {
      const resource = wanted.get(name);
      if (!resource) {
        this.#functions.delete(name);
        await functionPlugin.stop(running);
        changes.push(`removed ${name}`);
      } else if (functionPlugin.plan(running.spec, resource.spec) === "restart") {
        await this.#startFunction(resource, secrets);
        await functionPlugin.stop(running);
        changes.push(`restarted ${name}`);
      }
    }
    for (const [name, resource] of wanted) {
      if (this.#functions.has(name)) continue;
      await this.#startFunction(resource, secrets);
      changes.push(`started ${name}`);
    }
    this.graph = next.graph;
    this.#appInputs = next.inputs;
    this.#applyServices(next.graph);
    // Changes recorded meanwhile for a bus this reload adds, and those of a bucket whose
    // notifications it removed (dropped now), go once the new buses are up.
    for (const entry of this.#buckets.all()) this.#notify(entry);
    this.#router = buildRouter(next.graph, (name) => this.#functions.get(name)?.host);
    this.#reloader?.refresh();
    this.#logger.info(`app reloaded${changes.length ? `: ${changes.join(", ")}` : "; no function changed"}`);
  }

  async reset(): Promise<void> {
    // Declared buckets are emptied in place, so functions holding them keep working.
    this.#buckets.reset();
    this.#queues?.clear();
    for (const entry of await readdir(this.state)) {
      // Open stores were emptied in place above; their files stay.
      if (entry === "build" || entry === "buckets" || entry === "queues" || entry === credentialsFile) continue;
      await rm(join(this.state, entry), { recursive: true, force: true });
    }
  }

  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  async #shutdown(): Promise<void> {
    await this.#reloader?.stop();
    const server = this.#server;
    if (server) {
      // Stop accepting; requests in flight finish, then idle keep-alive sockets close.
      const closed = new Promise<void>((done) => server.close(() => done()));
      (server as { closeIdleConnections?: () => void }).closeIdleConnections?.();
      await Promise.all([...this.#functions.values()].map((fn) => functionPlugin.stop(fn)));
      // Responses still streaming get a moment to finish before their sockets are closed.
      await Promise.race([closed, new Promise((done) => setTimeout(done, 1_000).unref())]);
      (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      await closed;
    } else {
      await Promise.all([...this.#functions.values()].map((fn) => functionPlugin.stop(fn)));
    }
    await this.#s3?.close();
    this.#schedules?.stop();
    this.clock.stop();
    await this.#queues?.close();
    await this.#work.drain();
    this.#functions.clear();
    this.#buckets?.close();
    await this.#workers.close();
    this.#logger.flush();
    if (this.#temporaryState && this.state) await rm(this.state, { recursive: true, force: true });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
