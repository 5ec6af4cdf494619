import { App } from "@nimbus/core";
import { describe, expectTypeOf, it } from "vitest";
import { z } from "zod";
import type { BucketClient } from "./bucket.ts";
import type { BusClient } from "./bus.ts";
import type { FunctionClient } from "./function.ts";
import { defineHandler } from "./handler.ts";
import type { QueueClient } from "./queue.ts";

interface Order {
  id: string;
  total: number;
}
interface ShopEvents {
  OrderPaid: { id: string; total: number };
  OrderCancelled: { id: string; reason: string };
}

const app = new App("types");
const receipts = app.bucket("receipts");
const orders = app.bus<ShopEvents>("orders");
const jobs = app.queue<Order>("jobs");
const checked = app.queue("checked", { schema: z.object({ sku: z.string() }) });
const users = app.function("users", { handler: "users.ts" });
const api = app.function("api", {
  handler: "api.ts",
  link: { orders, receipts, jobs, checked, users },
  config: { currency: "EUR", limit: 5 },
  secrets: ["STRIPE_KEY"],
});
const worker = app.function("worker", { handler: "worker.ts" });
const bare = app.function("bare", { handler: "bare.ts" });

describe("defineHandler", () => {
  it("env: holds one typed binding per linked resource", () => {
    defineHandler<typeof api>({
      async fetch(_request, env) {
        expectTypeOf(env.receipts).toEqualTypeOf<BucketClient>();
        expectTypeOf(env.orders).toEqualTypeOf<BusClient<ShopEvents>>();
        expectTypeOf(env.jobs).toEqualTypeOf<QueueClient<Order>>();
        expectTypeOf(env.checked).toEqualTypeOf<QueueClient<{ sku: string }>>();
        expectTypeOf(env.users).toEqualTypeOf<FunctionClient>();
        return new Response();
      },
    });
  });

  it("env: holds config values and secrets", () => {
    defineHandler<typeof api>({
      async fetch(_request, env) {
        expectTypeOf(env.currency).toEqualTypeOf<"EUR">();
        expectTypeOf(env.limit).toEqualTypeOf<5>();
        expectTypeOf(env.STRIPE_KEY).toEqualTypeOf<string>();
        return new Response();
      },
    });
  });

  it("env: a resource that is not linked is a type error", () => {
    defineHandler<typeof bare>({
      async fetch(_request, env) {
        // @ts-expect-error receipts is not linked to "bare"
        env.receipts;
        // @ts-expect-error no secrets were declared
        env.STRIPE_KEY;
        return new Response();
      },
    });
  });

  it("put: entries are typed by detail-type", () => {
    defineHandler<typeof api>({
      async fetch(_request, env) {
        await env.orders.put([{ source: "shop.api", detailType: "OrderPaid", detail: { id: "1", total: 42 } }]);
        await env.orders.put([
          // @ts-expect-error OrderPaid has no reason
          { source: "shop.api", detailType: "OrderPaid", detail: { id: "1", reason: "x" } },
        ]);
        // @ts-expect-error not a detail-type of the bus
        await env.orders.put([{ source: "shop.api", detailType: "OrderLost", detail: {} }]);
        return new Response();
      },
    });
  });

  it("send: bodies are typed by the queue", () => {
    defineHandler<typeof api>({
      async fetch(_request, env) {
        await env.jobs.send({ id: "1", total: 3 }, { delay: "5s" });
        await env.jobs.sendBatch([{ body: { id: "2", total: 1 }, delay: 10 }]);
        // @ts-expect-error total must be a number
        await env.jobs.send({ id: "1", total: "3" });
        // @ts-expect-error "5 fortnights" is not a duration
        await env.jobs.send({ id: "1", total: 3 }, { delay: "5 fortnights" });
        return new Response();
      },
    });
  });

  it("queue: the consumer's message bodies are typed by the queue it consumes", () => {
    defineHandler<typeof worker, typeof jobs>({
      async queue(batch) {
        expectTypeOf(batch.messages[0]!.body).toEqualTypeOf<Order>();
        expectTypeOf(batch.messages[0]!.attempts).toEqualTypeOf<number>();
      },
    });
  });

  it("event: the event's detail is typed by detail-type", () => {
    defineHandler<typeof worker, typeof orders>({
      async event(event) {
        if (event["detail-type"] === "OrderCancelled") {
          expectTypeOf(event.detail).toEqualTypeOf<{ id: string; reason: string }>();
        } else {
          expectTypeOf(event.detail).toEqualTypeOf<{ id: string; total: number }>();
        }
      },
    });
  });

  it("fetch: the context carries params, waitUntil, signal and invocationId", () => {
    defineHandler<typeof bare>({
      async fetch(_request, _env, ctx) {
        expectTypeOf(ctx.params).toEqualTypeOf<Record<string, string>>();
        expectTypeOf(ctx.signal).toEqualTypeOf<AbortSignal>();
        expectTypeOf(ctx.invocationId).toEqualTypeOf<string>();
        ctx.waitUntil(Promise.resolve());
        return new Response();
      },
      async scheduled(controller) {
        expectTypeOf(controller.scheduledTime).toEqualTypeOf<number>();
        expectTypeOf(controller.schedule).toEqualTypeOf<string>();
      },
    });
  });

  it("defineHandler: a misspelt handler kind is a type error", () => {
    defineHandler<typeof bare>({
      // @ts-expect-error "fetc" is not a handler kind
      fetc() {
        return new Response();
      },
    });
  });
});

describe("app constructs", () => {
  it("function: a misspelt prop is a type error", () => {
    // @ts-expect-error "timout" is not a prop
    app.function("typo", { handler: "x.ts", timout: "5s" });
  });
  it("function: a route without a method is a type error", () => {
    // @ts-expect-error routes start with a method
    app.function("route", { handler: "x.ts", routes: ["/orders"] });
  });
  it("queue: a duration that is not one is a type error", () => {
    // @ts-expect-error "30 secs" is not a duration unit
    app.queue("dur", { visibilityTimeout: "30 secs" });
  });
});
