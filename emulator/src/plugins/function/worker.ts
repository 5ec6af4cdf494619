/**
 * The part of a function's bundle that talks to the emulator: it is bundled in front of
 * the author's handler, so a worker loads one plain JavaScript file. It builds `env`
 * from what the emulator passed in and serves invocations. A crash here ends only this
 * thread; the emulator answers its requests and starts a fresh one.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { format } from "node:util";
import { parentPort, type TransferListItem, workerData } from "node:worker_threads";
import { NimbusError } from "@nimbus/core";
import { sharedNow } from "../../clock/clock.ts";
import { bucketClient } from "../bucket/binding.ts";
import { bucketDir } from "../bucket/paths.ts";
import { BucketStore } from "../bucket/store.ts";
import { busClient } from "../bus/binding.ts";
import { messageBatch, type QueueRunPayload } from "../queue/batch.ts";
import { queueClient } from "../queue/binding.ts";
import {
  type Body,
  type FromWorker,
  type LogLevel,
  packBody,
  type RequestBody,
  type ToWorker,
  toWireError,
  transferables,
  type WireError,
  type WireRequest,
  type WireResponse,
  type WorkerData,
} from "./protocol.ts";

// Set by bootstrap.mjs before this bundle loads; a worker can so be started before it knows its function.
const data = (globalThis as { __nimbusWorkerData?: WorkerData }).__nimbusWorkerData ?? (workerData as WorkerData);
const port = parentPort!;
const invocation = new AsyncLocalStorage<string>();

const post = (message: FromWorker, transfer: TransferListItem[] = []) => port.postMessage(message, transfer);

// Every console line carries the function and the invocation it came from.
const levels: Record<string, LogLevel> = { debug: "debug", log: "info", info: "info", warn: "warn", error: "error" };
for (const [method, level] of Object.entries(levels)) {
  (console as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
    post({ type: "log", invocationId: invocation.getStore(), level, message: format(...args) });
}
process.on("unhandledRejection", (reason) => {
  post({
    type: "log",
    invocationId: invocation.getStore(),
    level: "error",
    message: `unhandled rejection: ${format(reason)}`,
  });
});

// Binding calls go to the emulator, which checks them against the function's links.
let nextCall = 0;
type Reply = Extract<ToWorker, { type: "reply" }>;
const calls = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();

function call(message: { binding: string; method: string; request?: WireRequest; args?: unknown }): Promise<Reply> {
  const id = nextCall++;
  const reply = new Promise<Reply>((resolve, reject) => calls.set(id, { resolve, reject }));
  post(
    { type: "call", id, invocationId: invocation.getStore(), ...message },
    transferables(message.request?.body ?? null),
  );
  return reply;
}

/** A linked function's `fetch`. */
async function callBinding(binding: string, method: string, request: Request): Promise<Response> {
  const { response } = await call({ binding, method, request: await toWireRequest(request) });
  return new Response(response!.body, response);
}

/** A service binding's call: plain data there and back, no HTTP objects on the way. */
async function callService(binding: string, method: string, args: unknown): Promise<unknown> {
  return (await call({ binding, method, args })).value;
}

const now = sharedNow(data.clock);

function buildEnv(): Record<string, unknown> {
  const env: Record<string, unknown> = { ...data.env };
  for (const link of data.links) {
    if (link.kind === "bucket") {
      env[link.name] = bucketClient(
        link.resource,
        () => new BucketStore({ name: link.resource, dir: bucketDir(data.stateDir, link.resource), now }),
        async (key, options) => (await callService(link.name, "presign", { key, ...options })) as string,
        async () => {
          await callService(link.name, "changed", {});
        },
      );
    } else if (link.kind === "queue") {
      env[link.name] = queueClient(link.resource, async (messages) => {
        await callService(link.name, "send", { messages });
      });
    } else if (link.kind === "function") {
      env[link.name] = {
        fetch: (input: Request | string | URL, init?: RequestInit) =>
          callBinding(
            link.name,
            "fetch",
            new Request(typeof input === "string" ? new URL(input, "http://function") : input, init),
          ),
      };
    } else {
      env[link.name] = busClient(async (entries) => (await callService(link.name, "put", { entries })) as string[]);
    }
  }
  return Object.freeze(env);
}

async function toWireRequest(request: Request): Promise<WireRequest> {
  return {
    method: request.method,
    url: request.url,
    headers: [...request.headers],
    body: await packBody(request.body),
  };
}

type FetchHandler = (request: Request, env: unknown, ctx: unknown) => Promise<unknown> | unknown;
type RunHandler = (argument: unknown, env: unknown, ctx: unknown) => Promise<unknown> | unknown;
let fetchHandler: FetchHandler | undefined;
let handlers: Record<string, RunHandler | undefined> = {};
const env = buildEnv();
const running = new Map<number, AbortController>();

/** An invocation's `ctx` (its abort signal and `waitUntil`), and the promises it must wait for. */
function invocationContext(id: number, invocationId: string) {
  const controller = new AbortController();
  running.set(id, controller);
  const pending: Promise<unknown>[] = [];
  const ctx = {
    signal: controller.signal,
    invocationId,
    waitUntil: (promise: Promise<unknown>) => {
      pending.push(
        Promise.resolve(promise).catch((error: unknown) => console.error("waitUntil promise rejected:", error)),
      );
    },
  };
  return { controller, pending, ctx };
}

async function serveFetch(message: Extract<ToWorker, { type: "fetch" }>): Promise<void> {
  const { controller, pending, ctx: base } = invocationContext(message.id, message.invocationId);
  const ctx = { ...base, params: message.params };
  await invocation.run(message.invocationId, async () => {
    try {
      if (!fetchHandler) throw new Error(`function "${data.fn}" has no fetch handler in its default export`);
      const { method, url, headers, body } = message.request;
      const request = new Request(url, {
        method,
        headers,
        body: body as RequestBody,
        signal: controller.signal,
        duplex: "half",
      } as RequestInit);
      const response = await fetchHandler(request, env, ctx);
      if (!(response instanceof Response)) {
        throw new TypeError(`fetch must return a Response; function "${data.fn}" returned ${describe(response)}`);
      }
      const packed: Body = await packBody(response.body);
      const wire: WireResponse = {
        status: response.status,
        statusText: response.statusText,
        headers: [...response.headers],
        body: packed,
      };
      if (pending.length === 0) {
        running.delete(message.id);
        post({ type: "response", id: message.id, response: wire, done: true }, transferables(packed));
        return;
      }
      post({ type: "response", id: message.id, response: wire }, transferables(packed));
    } catch (error) {
      post({ type: "error", id: message.id, error: toWireError(error) });
    }
    await Promise.all(pending);
    running.delete(message.id);
    post({ type: "done", id: message.id });
  });
}

/** An error the emulator answered a call with, rebuilt with its code so `NimbusError.is` holds. */
function fromWireError(wire: WireError | undefined): Error {
  if (wire?.code) return new NimbusError(wire.code, wire.message);
  return Object.assign(new Error(wire?.message), { name: wire?.name ?? "Error" });
}

/** Runs `queue`, `event` or `scheduled`: the result is what the handler decided, reported also when it throws. */
async function serveRun(message: Extract<ToWorker, { type: "run" }>): Promise<void> {
  const { pending, ctx } = invocationContext(message.id, message.invocationId);
  await invocation.run(message.invocationId, async () => {
    let report: () => unknown = () => undefined;
    try {
      const handler = handlers[message.handler];
      if (!handler) {
        throw new Error(`function "${data.fn}" has no ${message.handler} handler in its default export`);
      }
      let argument: unknown = message.payload;
      if (message.handler === "queue") {
        const { batch, outcomes } = messageBatch(message.payload as QueueRunPayload);
        argument = batch;
        report = outcomes;
      }
      await handler(argument, env, ctx);
      post({ type: "result", id: message.id, value: report(), done: pending.length === 0 });
    } catch (error) {
      post({ type: "error", id: message.id, error: toWireError(error), value: report() });
    }
    await Promise.all(pending);
    running.delete(message.id);
    post({ type: "done", id: message.id });
  });
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  return typeof value === "object" ? `an object (${value.constructor?.name ?? "Object"})` : typeof value;
}

port.on("message", (message: ToWorker) => {
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
});

/** Called by the bundle's entry with the author's handler module, once it has loaded. */
export function serve(module: { default?: unknown }): void {
  const handler = module.default as { fetch?: FetchHandler } | undefined;
  if (typeof handler !== "object" || handler === null) {
    post({
      type: "load-error",
      error: toWireError(
        new TypeError(
          `the handler module must \`export default defineHandler({ ... })\`; found ${describe(handler)} as its default export`,
        ),
      ),
    });
    return;
  }
  fetchHandler = typeof handler.fetch === "function" ? handler.fetch.bind(handler) : undefined;
  const methods = handler as Record<string, unknown>;
  handlers = Object.fromEntries(
    ["queue", "event", "scheduled"].map((name) => {
      const method = methods[name];
      return [name, typeof method === "function" ? (method.bind(handler) as RunHandler) : undefined];
    }),
  );
  post({ type: "ready" });
}
