import { afterEach, describe, expect, it, vi } from "vitest";
import type { FetchContext, InvocationContext } from "./handler.ts";
import { handlerInvoker } from "./invoker.ts";
import type { QueueRunPayload } from "./message-batch.ts";
import type { MessageBatch } from "./queue.ts";

const env = Object.freeze({ GREETING: "hi" });
const options = { invocationId: "inv-1" };

/** A batch of JSON messages `a`, `b`, `c`, as a target's delivery loop hands it over. */
const payload: QueueRunPayload = {
  queue: "orders",
  messages: ["a", "b", "c"].map((id, index) => ({
    id,
    body: new TextEncoder().encode(JSON.stringify({ n: index })),
    format: "json",
    attempts: 1,
    firstSeen: Date.UTC(2030, 0, 1),
  })),
};

/** A promise and the function that settles it. */
function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("handlerInvoker", () => {
  it("handlerInvoker: a module without a handler object as its default export fails, saying how to fix it", () => {
    expect(() => handlerInvoker({}, env, { name: "api" })).toThrow(
      "the handler module must `export default defineHandler({ ... })`; found undefined as its default export",
    );
    expect(() => handlerInvoker({ default: () => new Response() }, env, { name: "api" })).toThrow(
      /found function as its default export/,
    );
  });

  it("fetch: calls the handler with the request, env and a ctx with params, invocationId and signal", async () => {
    let seen: { env: unknown; ctx: FetchContext } | undefined;
    const invoker = handlerInvoker(
      {
        default: {
          async fetch(request: Request, env: unknown, ctx: FetchContext) {
            seen = { env, ctx };
            return new Response(`${request.method} ${new URL(request.url).pathname} ${await request.text()}`);
          },
        },
      },
      env,
      { name: "api" },
    );
    const controller = new AbortController();
    const result = await invoker.fetch(new Request("http://app/orders/7", { method: "POST", body: "x" }), {
      ...options,
      params: { id: "7" },
      signal: controller.signal,
    });
    expect("response" in result && (await result.response.text())).toBe("POST /orders/7 x");
    expect(result.done).toBeUndefined();
    expect(seen!.env).toBe(env);
    expect(seen!.ctx).toMatchObject({ params: { id: "7" }, invocationId: "inv-1" });
    controller.abort();
    expect(seen!.ctx.signal.aborted).toBe(true);
  });

  it("fetch: a function without a fetch handler, or one that returns no Response, fails naming the function", async () => {
    const request = () => new Request("http://app/");
    const noFetch = handlerInvoker({ default: { queue() {} } }, env, { name: "worker" });
    expect(await noFetch.fetch(request(), { ...options, params: {} })).toEqual({
      error: new Error('function "worker" has no fetch handler in its default export'),
    });
    const wrong = handlerInvoker({ default: { fetch: () => ({ status: 200 }) } }, env, { name: "api" });
    const result = await wrong.fetch(request(), { ...options, params: {} });
    expect("error" in result && result.error).toEqual(
      new TypeError('fetch must return a Response; function "api" returned an object (Object)'),
    );
  });

  it("fetch: done settles once every promise given to waitUntil has, after the response; a rejected one is logged", async () => {
    const logged = vi.spyOn(console, "error").mockImplementation(() => {});
    const later = deferred();
    const invoker = handlerInvoker(
      {
        default: {
          fetch(_request: Request, _env: unknown, ctx: FetchContext) {
            ctx.waitUntil(later.promise);
            ctx.waitUntil(Promise.reject(new Error("audit failed")));
            return new Response("ok");
          },
        },
      },
      env,
      { name: "api" },
    );
    const result = await invoker.fetch(new Request("http://app/"), { ...options, params: {} });
    expect("response" in result && result.response.status).toBe(200);
    const order: string[] = [];
    const done = result.done!.then(() => order.push("done"));
    await Promise.resolve();
    order.push("released");
    later.resolve();
    await done;
    expect(order).toEqual(["released", "done"]);
    expect(logged).toHaveBeenCalledWith("waitUntil promise rejected:", new Error("audit failed"));
  });

  it("run queue: reports each message acked or retried, the last call winning; unsettled ones are absent (§success/1)", async () => {
    let batch: MessageBatch | undefined;
    const invoker = handlerInvoker(
      {
        default: {
          queue(received: MessageBatch) {
            batch = received;
            const [a, b] = received.messages;
            a!.retry();
            a!.ack();
            b!.retry({ delay: "5s" });
          },
        },
      },
      env,
      { name: "consumer" },
    );
    const result = await invoker.run("queue", payload, options);
    expect(result).toEqual({
      value: [
        { id: "a", ack: true },
        { id: "b", retry: { delay: 5000 } },
      ],
    });
    expect(batch!.queue).toBe("orders");
    expect(batch!.messages.map((message) => [message.body, message.attempts, message.timestamp])).toEqual([
      [{ n: 0 }, 1, new Date(Date.UTC(2030, 0, 1))],
      [{ n: 1 }, 1, new Date(Date.UTC(2030, 0, 1))],
      [{ n: 2 }, 1, new Date(Date.UTC(2030, 0, 1))],
    ]);
  });

  it("run queue: a thrown error is reported with the settlements made before it (§thrown/1)", async () => {
    const invoker = handlerInvoker(
      {
        default: {
          async queue(batch: MessageBatch) {
            batch.messages[0]!.ack();
            batch.messages[1]!.retry();
            throw new Error("database down");
          },
        },
      },
      env,
      { name: "consumer" },
    );
    expect(await invoker.run("queue", payload, options)).toEqual({
      error: new Error("database down"),
      value: [
        { id: "a", ack: true },
        { id: "b", retry: { delay: undefined } },
      ],
    });
  });

  it("run queue: ackAll and retryAll settle every message; a retry delay out of range throws in the handler", async () => {
    const invoker = handlerInvoker(
      {
        default: {
          queue(batch: MessageBatch) {
            batch.ackAll();
            batch.retryAll({ delay: 1 });
            batch.messages[0]!.retry({ delay: "1 day" });
          },
        },
      },
      env,
      { name: "consumer" },
    );
    const result = await invoker.run("queue", payload, options);
    expect("error" in result && String(result.error)).toMatch(/a delay must be a duration from 0s to 12h/);
    expect(result.value).toEqual(["a", "b", "c"].map((id) => ({ id, retry: { delay: 1000 } })));
  });

  it("run: event and scheduled get the payload as it is, env and a ctx; done waits for waitUntil", async () => {
    const seen: unknown[] = [];
    const later = deferred();
    const invoker = handlerInvoker(
      {
        default: {
          event(event: unknown, env: unknown, ctx: InvocationContext) {
            seen.push(event, env, ctx.invocationId);
            ctx.waitUntil(later.promise);
          },
          scheduled(controller: unknown) {
            seen.push(controller);
          },
        },
      },
      env,
      { name: "listener" },
    );
    const result = await invoker.run("event", { id: "e1" }, options);
    expect(result).toEqual({ value: undefined, done: expect.any(Promise) });
    later.resolve();
    await result.done;
    expect(await invoker.run("scheduled", { schedule: "nightly", scheduledTime: 1 }, options)).toEqual({
      value: undefined,
    });
    expect(seen).toEqual([{ id: "e1" }, env, "inv-1", { schedule: "nightly", scheduledTime: 1 }]);
  });

  it("run: a function without the handler fails naming the function and the handler", async () => {
    const invoker = handlerInvoker({ default: { fetch: () => new Response() } }, env, { name: "api" });
    expect(await invoker.run("queue", payload, options)).toEqual({
      error: new Error('function "api" has no queue handler in its default export'),
      value: undefined,
    });
  });
});
