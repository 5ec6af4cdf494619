import { App, type NimbusEvent } from "@nimbus/core";
import type { OrderPaid, ShopEvents } from "./src/events";

const app = new App("shop");

/** Orders as placed, receipts as written by fulfilment, and the nightly reports. */
export const receipts = app.bucket("receipts");
/** Business events: the API puts `OrderPaid`, bucket notifications put `Object Created`. */
export const orders = app.bus<ShopEvents>("orders", {
  // Events a target keeps failing on wait in `orders-dlq`; `nimbus redrive orders-dlq` retries them.
  deadLetter: true,
});
/** Paid orders waiting to be fulfilled; the body is the whole `OrderPaid` event. */
export const fulfilment = app.queue<NimbusEvent<OrderPaid>>("fulfilment", {
  visibilityTimeout: "30s",
  delivery: { maxAttempts: 5, backoff: { initial: "1s", max: "1m" } },
  deadLetter: true,
});

export const api = app.function("api", {
  handler: "./src/api.ts",
  routes: ["GET /orders/:id", "POST /orders"],
  link: { orders, receipts },
  timeout: "10s",
});

export const fulfil = app.function("fulfil", {
  handler: "./src/fulfil.ts",
  link: { receipts },
});
fulfilment.subscribe(fulfil, { batchSize: 10, maxBatchWait: "1s" });

orders.rule("paid", {
  pattern: {
    source: ["shop.api"],
    "detail-type": ["OrderPaid"],
    detail: { total: [{ numeric: [">", 0] }] },
  },
  targets: [fulfilment],
});

receipts.notify(orders, { events: ["created"], prefix: "receipts/" });

/** Tells the customer: once a receipt is written, a confirmation goes to `mail/<order>.txt`. */
export const mailer = app.function("mailer", {
  handler: "./src/mailer.ts",
  link: { receipts },
});
orders.rule("receipt-written", {
  pattern: {
    source: ["nimbus.bucket"],
    "detail-type": ["Object Created"],
    detail: { object: { key: [{ prefix: "receipts/" }] } },
  },
  targets: [mailer],
  description: "A new receipt sends its confirmation",
});

export const report = app.function("report", {
  handler: "./src/report.ts",
  // The nightly report, live: what the next run would write.
  routes: ["GET /report"],
  link: { receipts },
});
app.schedule("nightly-report", {
  cron: "0 2 * * *",
  timezone: "Europe/Berlin",
  target: report,
});

export default app;
