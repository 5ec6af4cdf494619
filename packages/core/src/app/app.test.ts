import { describe, expect, it } from "vitest";
import { z } from "zod";
import { serializeGraph, validateGraph } from "../graph/validate.ts";
import { App } from "./app.ts";

function shop() {
  const app = new App("shop");
  const receipts = app.bucket("receipts");
  const orders = app.bus("orders");
  const fulfilment = app.queue("fulfilment", {
    visibilityTimeout: "30s",
    delivery: { maxAttempts: 5, backoff: { initial: "1s", max: "1m" } },
    deadLetter: true,
  });
  const api = app.function("api", {
    handler: "./src/api.ts",
    routes: ["GET /orders/:id", "POST /orders"],
    link: { orders, receipts },
    timeout: "10s",
  });
  const fulfil = app.function("fulfil", { handler: "./src/fulfil.ts", link: { receipts } });
  fulfilment.subscribe(fulfil, { batchSize: 10, maxBatchWait: "1s" });
  orders.rule("paid", {
    pattern: { source: ["shop.api"], "detail-type": ["OrderPaid"], detail: { total: [{ numeric: [">", 0] }] } },
    targets: [fulfilment],
  });
  receipts.notify(orders, { events: ["created"], prefix: "receipts/" });
  const report = app.function("report", { handler: "./src/report.ts", link: { receipts } });
  app.schedule("nightly-report", { cron: "0 2 * * *", timezone: "Europe/Berlin", target: report });
  return { app, api };
}

describe("App.toGraph", () => {
  it("toGraph: lists every resource sorted by kind then name", () => {
    const graph = shop().app.toGraph();
    expect(graph.version).toBe(1);
    expect(graph.app).toBe("shop");
    expect(graph.resources.map((r) => `${r.kind}:${r.name}`)).toEqual([
      "bucket:receipts",
      "bus:orders",
      "function:api",
      "function:fulfil",
      "function:report",
      "queue:fulfilment",
      "queue:fulfilment-dlq",
      "rule:orders/paid",
      "schedule:nightly-report",
    ]);
  });

  it("toGraph: derives typed edges for links, subscriptions, rule and schedule targets, notifications and dead letters", () => {
    const graph = shop().app.toGraph();
    expect(graph.edges).toEqual([
      { kind: "dead-letter", from: "queue:fulfilment", to: "queue:fulfilment-dlq" },
      { kind: "link", from: "function:api", to: "bucket:receipts" },
      { kind: "link", from: "function:api", to: "bus:orders" },
      { kind: "link", from: "function:fulfil", to: "bucket:receipts" },
      { kind: "link", from: "function:report", to: "bucket:receipts" },
      { kind: "notification", from: "bucket:receipts", to: "bus:orders" },
      { kind: "rule-target", from: "rule:orders/paid", to: "queue:fulfilment" },
      { kind: "schedule-target", from: "schedule:nightly-report", to: "function:report" },
      { kind: "subscription", from: "queue:fulfilment", to: "function:fulfil" },
    ]);
  });

  it("toGraph: normalises durations to ms and sizes to bytes and fills every default", () => {
    const graph = shop().app.toGraph();
    const byId = new Map(graph.resources.map((r) => [`${r.kind}:${r.name}`, r.spec]));
    expect(byId.get("queue:fulfilment")).toEqual({
      visibilityTimeout: 30_000,
      delivery: { maxAttempts: 5, backoff: { initial: 1_000, max: 60_000 } },
      deadLetter: "fulfilment-dlq",
      retention: 4 * 86_400_000,
      maxMessageSize: 256 * 1024,
      schema: null,
      consumer: { function: "fulfil", batchSize: 10, maxBatchWait: 1_000, concurrency: 1 },
    });
    expect(byId.get("queue:fulfilment-dlq")).toMatchObject({
      visibilityTimeout: 30_000,
      delivery: { maxAttempts: 3, backoff: { initial: 1_000, max: 60_000 } },
      deadLetter: null,
      consumer: null,
    });
    expect(byId.get("function:api")).toEqual({
      handler: "src/api.ts",
      routes: [
        { method: "GET", path: "/orders/:id" },
        { method: "POST", path: "/orders" },
      ],
      links: [
        { name: "orders", kind: "bus", resource: "orders" },
        { name: "receipts", kind: "bucket", resource: "receipts" },
      ],
      timeout: 10_000,
      concurrency: 10,
      memory: 256 * 1024 * 1024,
      maxBodySize: 6 * 1024 * 1024,
      cpu: 1,
      scale: 1,
      isolation: "standard",
      config: {},
      secrets: [],
    });
    expect(byId.get("schedule:nightly-report")).toEqual({
      cron: "0 2 * * *",
      timezone: "Europe/Berlin",
      target: { kind: "function", name: "report" },
    });
    expect(byId.get("bucket:receipts")).toEqual({
      notifications: [{ bus: "orders", events: ["created"], prefix: "receipts/", suffix: "" }],
    });
  });

  it("toGraph: gives byte-identical JSON for the same app", () => {
    expect(serializeGraph(shop().app.toGraph())).toBe(serializeGraph(shop().app.toGraph()));
  });

  it("toGraph: gives plain JSON that validateGraph reads back unchanged", () => {
    const graph = shop().app.toGraph();
    const text = serializeGraph(graph);
    expect(validateGraph(JSON.parse(text))).toEqual(graph);
  });

  it("toGraph: stores queue and bus zod schemas as JSON Schema", () => {
    const app = new App("typed");
    app.queue("jobs", { schema: z.object({ id: z.string() }) });
    app.bus("events", { schema: { Created: z.object({ at: z.number() }) } });
    const graph = app.toGraph();
    const jobs = graph.resources.find((r) => r.name === "jobs");
    const events = graph.resources.find((r) => r.name === "events");
    expect(jobs?.spec).toMatchObject({
      schema: { type: "object", properties: { id: { type: "string" } }, required: ["id"] },
    });
    expect(events?.spec).toMatchObject({
      schema: { Created: { type: "object", properties: { at: { type: "number" } } } },
    });
  });

  it("toGraph: keeps config and sorted, de-duplicated secrets", () => {
    const app = new App("cfg");
    app.function("fn", {
      handler: "fn.ts",
      config: { currency: "EUR", freeShippingOver: 50, beta: false },
      secrets: ["STRIPE_KEY", "API_TOKEN", "STRIPE_KEY"],
    });
    expect(app.toGraph().resources[0]?.spec).toMatchObject({
      config: { currency: "EUR", freeShippingOver: 50, beta: false },
      secrets: ["API_TOKEN", "STRIPE_KEY"],
    });
  });

  it("toGraph: lets a function link another function", () => {
    const app = new App("svc");
    const users = app.function("users", { handler: "users.ts" });
    app.function("web", { handler: "web.ts", link: { users } });
    expect(app.toGraph().edges).toEqual([{ kind: "link", from: "function:web", to: "function:users" }]);
  });
});
