// The queue benchmark's app: `producer` sends from inside its handler, `sink` consumes and
// records, per message, the time from send to the start of its `queue` handler.
import { App } from "@nimbus/core";
import type { Sent } from "./src/loops.ts";

const app = new App("bench-queues");

export const bench = app.queue<Sent>("bench");

export const sink = app.function("sink", {
  handler: "./src/sink.ts",
  routes: ["GET /stats", "POST /reset"],
});
// The largest batch, no wait for a partial one (so an idle consumer sees a message at
// once), and one batch at a time: the setting Miniflare's broker runs (one flush in flight
// per queue), so both sides deliver the same way and the sink counts in one thread.
bench.subscribe(sink, { batchSize: 100, maxBatchWait: "0s", concurrency: 1 });

export const producer = app.function("producer", {
  handler: "./src/producer.ts",
  routes: ["POST /run"],
  link: { bench },
  timeout: "5m",
});

export default app;
