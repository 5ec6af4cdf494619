import { AsyncLocalStorage } from "node:async_hooks";
import { randomUUID } from "node:crypto";
import { pathToFileURL } from "node:url";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type Chain, formatDuration, natsInboxPrefix, type QueueSpec, resourcesOf } from "@nimbus/core";
import { InFlight } from "../in-flight.ts";
import { type HandlerInvoker, handlerInvoker, type RunHandlerName } from "../invoker.ts";
import { Limiter } from "../limiter.ts";
import type { MessageOutcome, QueueRunPayload } from "../message-batch.ts";
import type { FunctionRoleConfig, NatsConfig } from "./config.ts";
import { deliveryQueuePlans, openDeliveries } from "./deliveries.ts";
import { type HostEnv, hostEnv } from "./env.ts";
import { handlerExit } from "./exit-guard.ts";
import type { HostLogger } from "./log.ts";
import { admitBatch } from "./loop-guard.ts";
import { JetStreamQueues, type Running } from "./queue.ts";
import { hostApp, type Listening, listen } from "./server.ts";

/** A started function host. */
export interface FunctionRole {
  /** The HTTP port it listens on. */
  readonly port: number;
  /**
   * Stops taking work, lets what runs finish within the function's timeout (the rest
   * is delivered again after its visibility timeout), then closes NATS. Never rejects.
   */
  stop(): Promise<void>;
}

/**
 * Serves one function: its routes over HTTP from the start (not ready until the handler
 * has loaded and NATS is connected), and its queue's batches from JetStream. A handler
 * that throws is a 500 or a failed delivery; nothing it does, short of `process.exit`,
 * ends the host. Every invocation runs in a chain (docs/semantics.md "Recursive loops"):
 * a request's and a tick's a new one, a delivery's one deeper than the chain its message
 * carries, a batch's that of its deepest message; a delivery past the chain limit is
 * refused (loop-guard.ts). The binding calls of an invocation carry its chain.
 */
export async function startFunctionRole(config: FunctionRoleConfig, logger: HostLogger): Promise<FunctionRole> {
  const { name, spec } = config;
  const say = (level: "info" | "warn" | "error", message: string) => logger.log({ fn: name, level, message });
  for (const secret of config.missingSecrets) {
    say(
      "warn",
      `secret ${secret} of function "${name}" is not set: set the variable ${secret} in the host's environment`,
    );
  }
  const invocations = new Invocations(name, spec.timeout, spec.concurrency, logger);
  // The running invocation's chain, for the clients of its bindings (awaited or not).
  const chains = new AsyncLocalStorage<Chain>();
  let invoker: HandlerInvoker | undefined;
  let nc: NatsConnection | undefined;
  let connected = false;
  let stopping = false;

  const app = hostApp({
    fn: { name, spec },
    readiness: () => {
      const waiting = [
        ...(invoker ? [] : ["handler"]),
        ...(connected ? [] : ["nats"]),
        ...(stopping ? ["stopping"] : []),
      ];
      return { ready: waiting.length === 0, waiting };
    },
    invoke: (request, params) => {
      if (stopping || !invoker) {
        const why = stopping ? "is stopping" : "is starting";
        return Promise.resolve(
          new Response(`function "${name}" ${why}; retry shortly\n`, {
            status: 503,
            headers: { "content-type": "text/plain; charset=utf-8", "retry-after": "1", connection: "close" },
          }),
        );
      }
      return invocations.fetch(invoker, request, params);
    },
  });
  const listening: Listening = await listen(app, config.port, config.hostname);
  say("info", `listening on ${config.hostname}:${listening.port}`);

  // The handler loads while NATS connects; a module that does not load ends the host (exit 1 in main).
  const loading = import(pathToFileURL(config.handler).href) as Promise<{ default?: unknown }>;
  loading.catch(() => {});
  nc = await connectNats(config.nats, name);
  connected = true;
  void watchStatus(nc, (up) => {
    connected = up;
    say(up ? "info" : "warn", up ? "NATS connection restored" : "NATS connection lost; reconnecting");
  });

  const inboxPrefix = config.nats.user ? natsInboxPrefix(config.nats.user) : undefined;
  const queues = await JetStreamQueues.open({
    nc,
    queues: Object.fromEntries(resourcesOf(config.graph, "queue").map((queue) => [queue.name, queue.spec])),
    prefix: config.prefix,
    inboxPrefix,
    log: (line) => say("warn", line),
  });
  const plans = deliveryQueuePlans(config.graph, config.prefix, name);
  const deliveries =
    plans.length > 0
      ? await openDeliveries({ nc, plans, prefix: config.prefix, inboxPrefix, log: (line) => say("warn", line) })
      : undefined;
  let env: HostEnv;
  try {
    env = await hostEnv(config, nc, queues, () => chains.getStore(), say);
    invoker = handlerInvoker(await loading, env.env, { name, chains });
  } catch (error) {
    await listening.close();
    await nc.close();
    throw error;
  }
  say("info", `loaded ${config.handler}`);

  const consumers: Running[] = [];
  for (const queue of consumedQueues(config)) {
    consumers.push(
      queues.consume(queue.name, async (all, sent) => {
        const { payload, chain, refused } = admitBatch(
          config.graph,
          { via: { kind: "queue", name: queue.name }, function: name },
          all,
          sent,
          (index) => `message ${all.messages[index]!.id}`,
          (message) => say("error", message),
        );
        if (payload.messages.length === 0) return { outcomes: [], refused };
        const result = await invocations.run(
          invoker!,
          "queue",
          payload,
          `queue ${queue.name}: ${payload.messages.length} message(s)`,
          chain,
        );
        const outcomes = (result.value as MessageOutcome[] | undefined) ?? [];
        return result.ok
          ? { outcomes, refused }
          : { outcomes: result.timedOut ? [] : outcomes, error: result.error, refused };
      }),
    );
  }

  for (const plan of plans) {
    const { route, from } = plan.delivery;
    const handler = from.kind === "rule" ? "event" : "scheduled";
    consumers.push(
      deliveries!.consume(route.label, async (payload, sent) => {
        // One message per delivery (batch size 1): an event, or a schedule's `{ schedule, scheduledTime }`.
        const message = payload.messages[0]!;
        const value = JSON.parse(new TextDecoder().decode(message.body)) as Record<string, unknown>;
        if (handler === "scheduled") {
          // A tick is caused by nothing of the app: its run starts a new chain.
          const label = `schedule ${from.name}: tick due at ${new Date(Number(value.scheduledTime)).toISOString()}`;
          const result = await invocations.run(invoker!, handler, value, label);
          return result.ok ? { outcomes: [] } : { outcomes: [], error: result.error };
        }
        const what = `event ${String(value.id)} (${String(value["detail-type"])})`;
        const { chain, refused } = admitBatch(
          config.graph,
          { via: { kind: "rule", name: from.name }, function: name },
          payload,
          sent,
          () => what,
          (line) => say("error", line),
        );
        if (refused.length > 0) return { outcomes: [], refused };
        const result = await invocations.run(invoker!, handler, value, `${what} by ${from.name}`, chain);
        return result.ok ? { outcomes: [] } : { outcomes: [], error: result.error };
      }),
    );
  }

  let stopped: Promise<void> | undefined;
  return {
    port: listening.port,
    stop: () => {
      stopped ??= (async () => {
        stopping = true;
        say("info", `stopping: finishing ${invocations.running} invocation(s) within ${formatDuration(spec.timeout)}`);
        const closed = listening.close();
        await Promise.all(consumers.map((consumer) => consumer.stop().catch(() => {})));
        const finished = await invocations.drain(spec.timeout);
        if (!finished)
          say(
            "warn",
            `stopping: ${invocations.running} invocation(s) still running after ${formatDuration(spec.timeout)}; their work is delivered again`,
          );
        listening.server.closeAllConnections();
        await closed;
        await queues.close().catch(() => {});
        await deliveries?.close().catch(() => {});
        await nc?.drain().catch(() => {});
        env.close();
        say("info", "stopped");
      })();
      return stopped;
    },
  };
}

/** The queues the function consumes: those whose consumer names it. */
function consumedQueues(config: FunctionRoleConfig): { name: string; spec: QueueSpec }[] {
  return resourcesOf(config.graph, "queue").filter((queue) => queue.spec.consumer?.function === config.name);
}

/** Connects, trying again until the server answers (the host may start before NATS). */
function connectNats(nats: NatsConfig, fn: string): Promise<NatsConnection> {
  return connect({
    servers: nats.servers,
    user: nats.user,
    pass: nats.pass,
    token: nats.token,
    name: `nimbus-function-${fn}`,
    // A per-function user may read replies only under its own inbox prefix (core's natsPermissions).
    inboxPrefix: nats.user ? natsInboxPrefix(nats.user) : undefined,
    waitOnFirstConnect: true,
    maxReconnectAttempts: -1,
    // No stack captured for every request and publish ack: a tenth of a busy host's CPU.
    noAsyncTraces: true,
  });
}

/** Reports the connection going down and coming back, for readiness. */
async function watchStatus(nc: NatsConnection, changed: (up: boolean) => void): Promise<void> {
  for await (const status of nc.status()) {
    if (status.type === "disconnect") changed(false);
    else if (status.type === "reconnect") changed(true);
  }
}

/** How a run of `queue`, `event` or `scheduled` ended. */
type RunOutcome = { ok: true; value: unknown } | { ok: false; error: string; value?: unknown; timedOut: boolean };

/**
 * The function's invocations in this process: each under the function's timeout (then
 * its signal is aborted and it counts as failed; it cannot be stopped, there is no
 * worker to end), at most `concurrency` at once with up to four times as many waiting
 * (then 503), each logged with its invocation id, and counted for a graceful stop.
 */
class Invocations {
  readonly #fn: string;
  readonly #timeout: number;
  readonly #limiter: Limiter;
  readonly #logger: HostLogger;
  readonly #inFlight = new InFlight<Promise<unknown>>();

  constructor(fn: string, timeout: number, concurrency: number, logger: HostLogger) {
    this.#fn = fn;
    this.#timeout = timeout;
    this.#limiter = new Limiter(concurrency, concurrency * 4);
    this.#logger = logger;
  }

  get running(): number {
    return this.#inFlight.size;
  }

  async fetch(invoker: HandlerInvoker, request: Request, params: Record<string, string>): Promise<Response> {
    const release = await this.#limiter.acquire();
    if (!release) {
      return problem(
        503,
        `function "${this.#fn}" is at its concurrency limit (${this.#limiter.limit} running, ${this.#limiter.queueLimit} waiting); retry shortly or raise its concurrency`,
        { "retry-after": "1" },
      );
    }
    const invocationId = randomUUID().slice(0, 8);
    const started = performance.now();
    const path = pathOf(request.url);
    const { signal, timedOut, clear } = this.#deadline(request.signal);
    const running = this.#logger.invocation(invocationId, () =>
      invoker.fetch(request, { invocationId, params, signal }),
    );
    const answer = (async (): Promise<Response> => {
      const result = await Promise.race([running, timedOut]);
      if (result === "timeout") {
        this.#log(invocationId, "error", `timed out after ${formatDuration(this.#timeout)}; its signal was aborted`);
        return problem(504, `function "${this.#fn}" timed out after ${formatDuration(this.#timeout)}`);
      }
      if ("error" in result) {
        this.#log(invocationId, "error", describeError(result.error));
        return problem(500, `function "${this.#fn}" failed (invocation ${invocationId}); its log has the error`);
      }
      return result.response;
    })();
    this.#track(
      (async () => {
        // The slot is held until the handler and its waitUntil work end, as in the emulator.
        const result = await running;
        await result.done;
      })().finally(() => {
        clear();
        release();
      }),
    );
    const response = await answer;
    this.#log(
      invocationId,
      "info",
      `${request.method} ${path} ${response.status} ${Math.round(performance.now() - started)}ms`,
    );
    return response;
  }

  async run(
    invoker: HandlerInvoker,
    handler: RunHandlerName,
    payload: QueueRunPayload | unknown,
    label: string,
    /** The chain the invocation runs in. @default a new chain (a tick's) */
    chain?: Chain,
  ): Promise<RunOutcome> {
    // Deliveries are bounded by their consumer, so they wait whatever the queue.
    const release = await this.#limiter.acquire(true);
    const invocationId = randomUUID().slice(0, 8);
    const started = performance.now();
    const { signal, timedOut, clear } = this.#deadline();
    const running = this.#logger.invocation(invocationId, () =>
      invoker.run(handler, payload, { invocationId, signal, ...(chain ? { chain } : {}) }),
    );
    this.#track(
      (async () => {
        const result = await running;
        await result.done;
      })().finally(() => {
        clear();
        release?.();
      }),
    );
    const result = await Promise.race([running, timedOut, handlerExit(this.#fn, running)]);
    const ms = Math.round(performance.now() - started);
    if (result === "timeout") {
      const error = `timed out after ${formatDuration(this.#timeout)}`;
      this.#log(invocationId, "error", `${label} failed: ${error} ${ms}ms`);
      return { ok: false, error, timedOut: true };
    }
    if ("error" in result) {
      this.#log(invocationId, "error", describeError(result.error));
      this.#log(invocationId, "error", `${label} failed: ${errorMessage(result.error)} ${ms}ms`);
      return { ok: false, error: errorMessage(result.error), value: result.value, timedOut: false };
    }
    this.#log(invocationId, "info", `${label} ok ${ms}ms`);
    return { ok: true, value: result.value };
  }

  /** Resolves true once nothing runs, false when `ms` passed first. */
  async drain(ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (this.#inFlight.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), left);
      });
      const first = await Promise.race([Promise.allSettled([...this.#inFlight.values()]), late]);
      clearTimeout(timer);
      if (first === "late") return false;
    }
    return true;
  }

  #track(work: Promise<unknown>): void {
    const tracked = work.catch(() => {});
    const id = this.#inFlight.add(tracked);
    void tracked.finally(() => this.#inFlight.delete(id));
  }

  /** The invocation's signal, aborted at the function's timeout (or when the client goes away). */
  #deadline(outer?: AbortSignal) {
    const controller = new AbortController();
    const onAbort = () => controller.abort(outer?.reason);
    outer?.addEventListener("abort", onAbort, { once: true });
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => {
        controller.abort(new DOMException("The function's timeout was reached", "TimeoutError"));
        resolve("timeout");
      }, this.#timeout);
    });
    const clear = () => {
      clearTimeout(timer);
      outer?.removeEventListener("abort", onAbort);
    };
    return { signal: controller.signal, timedOut, clear };
  }

  #log(invocationId: string, level: "info" | "error", message: string): void {
    this.#logger.log({ fn: this.#fn, invocationId, level, message });
  }
}

function problem(status: number, message: string, headers: Record<string, string> = {}): Response {
  return new Response(`${message}\n`, { status, headers: { "content-type": "text/plain; charset=utf-8", ...headers } });
}

function describeError(error: unknown): string {
  return error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : `thrown: ${String(error)}`;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** The path of an absolute URL (`http://host:8080/a/b?c` → `/a/b`), without parsing all of it. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  const end = url.search(/[?#]/);
  return url.slice(start, end === -1 || end < start ? undefined : end);
}
