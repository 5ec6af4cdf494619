/**
 * The part of a function's worker that talks to the emulator: bundled once for all
 * functions and loaded before the author's handler bundle (bootstrap.mjs). It builds `env`
 * from what the emulator passed in and serves invocations. A crash here ends only this
 * thread; the emulator answers its requests and starts a fresh one.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { format } from "node:util";
import { parentPort, type TransferListItem, workerData } from "node:worker_threads";
import { type Chain, type ErrorCode, formatChain, type LinkSpec, NimbusError } from "@nimbus/core";
import {
  bucketClient,
  busClient,
  type HandlerInvoker,
  handlerInvoker,
  InFlight,
  InFlightMirror,
  queueClient,
} from "@nimbus/runtime/target";
import { BucketStore, bucketDir } from "@nimbus/store";
import { sharedNow } from "../../clock/clock.ts";
import { collectWhenIdle } from "../../memory/idle-collection.ts";
import { storeTransport } from "../bucket/transport.ts";
import { QueueStore, queueStoreFile } from "../queue/store.ts";
import { workerSends } from "../queue/worker-sends.ts";
import { Batches, eachMessage } from "./batches.ts";
import { givenBody, installLazyWeb, lazyRequest } from "./lazy-web.ts";
import {
  type FromWorker,
  headerPairs,
  type LogLevel,
  packBody,
  packHeaders,
  type RequestBody,
  type ToWorker,
  toWireError,
  transferables,
  type WireError,
  type WireRequest,
  type WorkerData,
} from "./protocol.ts";

// Set by bootstrap.mjs before this module loads; a worker can so be started before it knows its function.
const data = (globalThis as { __nimbusWorkerData?: WorkerData }).__nimbusWorkerData ?? (workerData as WorkerData);
const port = parentPort!;
installLazyWeb();
/**
 * The running invocation: its id, the chain its binding calls carry (docs/semantics.md,
 * "Recursive loops"), and the binding operations it started that have not settled. Its
 * worker reports an invocation done only after those, so one the handler did not await
 * (a put before a throw) still ends before the emulator counts the invocation's work as
 * over, and before a retired worker is stopped. What code starts once the invocation
 * ended (a timer's send) is not held for: `unsettled` is then gone.
 */
interface Current {
  id: string;
  chain?: Chain;
  /** Only while the invocation runs; made on its first binding operation. */
  unsettled?: Set<Promise<unknown>> | null;
}
const context = new AsyncLocalStorage<Current>();
const invocation = { getStore: () => context.getStore()?.id };
const chain = () => context.getStore()?.chain;
/**
 * Where the invoker keeps an invocation's chain: in the invocation's own entry, which
 * `context` already carries, rather than in a second async context per invocation.
 */
const chains = {
  run<R>(entered: Chain, callback: () => R): R {
    const current = context.getStore();
    if (!current) return context.run({ id: "", chain: entered, unsettled: null }, callback);
    current.chain = entered;
    return callback();
  },
  getStore: chain,
};
/** A chain as it crosses to the emulator, which reads it with core's `parseChain`. */
const wireChain = (sent: Chain | undefined) => (sent ? formatChain(sent) : undefined);

const outbox = new Batches<FromWorker>((batch, transfer) => port.postMessage(batch, transfer));
const post = (message: FromWorker, transfer: TransferListItem[] = []) => outbox.post(message, transfer);
/** Sends at once what the emulator must see even if this thread then blocks or exits: log lines, the ready signal. */
const postNow = (message: FromWorker) => outbox.now(message);
// A handler's `process.exit` ends the thread before the turn does: what it answered still goes.
process.on("exit", () => outbox.flush());

// Every console line carries the function and the invocation it came from.
const levels: Record<string, LogLevel> = { debug: "debug", log: "info", info: "info", warn: "warn", error: "error" };
for (const [method, level] of Object.entries(levels)) {
  (console as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
    postNow({ type: "log", invocationId: invocation.getStore(), level, message: format(...args) });
}
process.on("unhandledRejection", (reason) => {
  postNow({
    type: "log",
    invocationId: invocation.getStore(),
    level: "error",
    message: `unhandled rejection: ${format(reason)}`,
  });
});

// Binding calls go to the emulator, which checks them against the function's links.
type Reply = Extract<ToWorker, { type: "reply" }>;
const calls = new InFlight<{ resolve: (r: Reply) => void; reject: (e: Error) => void }>();

function call(message: { binding: string; method: string; request?: WireRequest; args?: unknown }): Promise<Reply> {
  const { promise: reply, resolve, reject } = Promise.withResolvers<Reply>();
  const id = calls.add({ resolve, reject });
  post(
    { type: "call", id, invocationId: invocation.getStore(), ...message },
    transferables(message.request?.body ?? null),
  );
  return started(reply);
}

/** `operation`, counted as one of the running invocation's (see `Current`). */
function started<T>(operation: Promise<T>): Promise<T> {
  const current = context.getStore();
  if (!current || current.unsettled === null) return operation;
  current.unsettled ??= new Set();
  const unsettled = current.unsettled;
  const settled: Promise<unknown> = operation.then(
    () => unsettled.delete(settled),
    () => unsettled.delete(settled),
  );
  unsettled.add(settled);
  return operation;
}

/** Whether the invocation has binding operations that have not settled. */
const busy = (current: Current) => (current.unsettled?.size ?? 0) > 0;

/** Resolves once every binding operation the invocation started has settled, those they started too; then it counts no more. */
async function allSettled(current: Current): Promise<void> {
  while (current.unsettled && current.unsettled.size > 0) await Promise.all(current.unsettled);
  current.unsettled = null;
}

/** `target` with each method's promise counted as an operation of the invocation calling it. */
function counted<T extends object>(target: T): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(target))
    wrapped[name] =
      typeof value === "function" ? (...args: unknown[]) => started(Promise.resolve(value.apply(target, args))) : value;
  return wrapped as T;
}

/** A linked function's `fetch`. */
async function callBinding(binding: string, method: string, request: Request): Promise<Response> {
  const { response } = await call({ binding, method, request: await toWireRequest(request) });
  const { body, status, statusText, headers } = response!;
  return new Response(body as RequestBody, { status, statusText, headers: headerPairs(headers) });
}

/** A service binding's call: plain data there and back, no HTTP objects on the way. */
async function callService(binding: string, method: string, args: unknown): Promise<unknown> {
  return (await call({ binding, method, args })).value;
}

const now = sharedNow(data.clock);

/** Queue sends, stored from this thread (the emulator is told after each, to wake the consumer); see worker-sends.ts. */
const sendToQueue = workerSends(() => new QueueStore({ file: queueStoreFile(data.stateDir) }), now);

/**
 * Each link kind's binding: the runtime's client over this worker's transport. A new
 * kind adds its line here; `satisfies` fails the build while one is missing.
 */
const bindings = {
  bucket: (link) =>
    bucketClient(
      link.resource,
      counted(
        storeTransport(
          () => new BucketStore({ name: link.resource, dir: bucketDir(data.stateDir, link.resource), now }),
          async (key, options) => (await callService(link.name, "presign", { key, ...options })) as string,
          async () => {
            await callService(link.name, "changed", {});
          },
        ),
      ),
      chain,
    ),
  queue: (link) =>
    queueClient(
      link.resource,
      {
        send: async (messages, sent) => {
          const stored = sendToQueue(
            link.resource,
            messages.map((message) => (sent ? { ...message, chain: sent } : message)),
          );
          // A queue with a schema: the emulator checks and stores the send.
          if (!stored) {
            await callService(link.name, "send", { messages, chain: wireChain(sent) });
            return;
          }
          post({
            type: "notice",
            invocationId: invocation.getStore(),
            binding: link.name,
            method: "sent",
            args: stored,
          });
        },
      },
      chain,
    ),
  bus: (link) =>
    busClient(
      {
        put: async (entries, sent) =>
          (await callService(link.name, "put", { entries, chain: wireChain(sent) })) as string[],
      },
      chain,
    ),
  function: (link) => ({
    fetch: (input: Request | string | URL, init?: RequestInit) =>
      callBinding(
        link.name,
        "fetch",
        new Request(typeof input === "string" ? new URL(input, "http://function") : input, init),
      ),
  }),
} satisfies Record<LinkSpec["kind"], (link: LinkSpec) => unknown>;

function buildEnv(): Record<string, unknown> {
  const env: Record<string, unknown> = { ...data.env };
  for (const link of data.links) env[link.name] = bindings[link.kind](link);
  return Object.freeze(env);
}

async function toWireRequest(request: Request): Promise<WireRequest> {
  return {
    method: request.method,
    url: request.url,
    headers: packHeaders(request.headers),
    body: await packBody(request.body),
  };
}

// What a burst of invocations leaves behind is collected once the worker goes quiet.
collectWhenIdle();

let invoker: HandlerInvoker | undefined;
const env = buildEnv();
/** Each running invocation's abort controller, by the emulator's id for it: an `abort` message fires it. */
const running = new InFlightMirror<AbortController>();

/** The invocation's abort controller, which an `abort` message from the emulator fires. */
function track(id: number): AbortController {
  const controller = new AbortController();
  running.set(id, controller);
  return controller;
}

async function serveFetch(message: Extract<ToWorker, { type: "fetch" }>): Promise<void> {
  const controller = track(message.id);
  const current: Current = { id: message.invocationId };
  await context.run(current, async () => {
    let done: Promise<void> | undefined;
    try {
      const { method, url, headers, body } = message;
      const request = lazyRequest({ method, url, headers, body: body as RequestBody, signal: controller.signal });
      const result = await invoker!.fetch(request, {
        invocationId: message.invocationId,
        params: message.params ?? {},
        signal: controller.signal,
      });
      done = result.done;
      if ("error" in result) throw result.error;
      const packed = givenBody(result.response) ?? (await packBody(result.response.body));
      const { status, statusText, headers: responseHeaders } = result.response;
      // Done now when nothing is left to wait for: the response then ends the invocation too.
      const finished = !done && !busy(current);
      if (finished) {
        running.delete(message.id);
        current.unsettled = null;
      }
      post(
        {
          type: "response",
          id: message.id,
          done: finished,
          status,
          statusText,
          headers: packHeaders(responseHeaders),
          body: packed,
        },
        transferables(packed),
      );
      if (finished) return;
    } catch (error) {
      post({ type: "error", id: message.id, error: toWireError(error) });
    }
    await done;
    await allSettled(current);
    running.delete(message.id);
    post({ type: "done", id: message.id });
  });
}

/** An error the emulator answered a call with, rebuilt with its code so `NimbusError.is` holds. */
function fromWireError(wire: WireError | undefined): Error {
  if (wire?.code) return new NimbusError(wire.code as ErrorCode, wire.message);
  return Object.assign(new Error(wire?.message), { name: wire?.name ?? "Error" });
}

/** Runs `queue`, `event` or `scheduled`: the result is what the handler decided, reported also when it throws. */
async function serveRun(message: Extract<ToWorker, { type: "run" }>): Promise<void> {
  const controller = track(message.id);
  const current: Current = { id: message.invocationId };
  await context.run(current, async () => {
    const result = await invoker!.run(message.handler, message.payload, {
      invocationId: message.invocationId,
      signal: controller.signal,
      chain: message.chain,
    });
    if ("error" in result) {
      post({ type: "error", id: message.id, error: toWireError(result.error), value: result.value });
    } else {
      post({ type: "result", id: message.id, value: result.value, done: !result.done && !busy(current) });
    }
    await result.done;
    await allSettled(current);
    running.delete(message.id);
    post({ type: "done", id: message.id });
  });
}

port.on("message", (data: ToWorker | ToWorker[]) => eachMessage(data, receive));

function receive(message: ToWorker): void {
  switch (message.type) {
    case "fetch":
      void serveFetch(message);
      break;
    case "run":
      void serveRun(message);
      break;
    case "abort":
      running.get(message.id)?.abort(new DOMException("The function's timeout was reached", "TimeoutError"));
      break;
    case "reply": {
      const call = calls.get(message.id);
      calls.delete(message.id);
      if (message.error) call?.reject(fromWireError(message.error));
      else call?.resolve(message);
      break;
    }
  }
}

/** Called by bootstrap.mjs with the author's handler module, once it has loaded. */
export function serve(module: { default?: unknown }): void {
  try {
    invoker = handlerInvoker(module, env, { name: data.fn, chains });
  } catch (error) {
    postNow({ type: "load-error", error: toWireError(error) });
    return;
  }
  postNow({ type: "ready" });
}
