// The schedule benchmark's app: `tick` fires every second and `ticker` records how late
// each tick reached its handler. `loader` is the load: each request puts 10 events on a
// bus whose rule queues them for `worker`, so HTTP, the bus and queue deliveries all run.
import { App } from "@nimbus/core";

const app = new App("bench-schedules");

export const results = app.bucket("results");
export const work = app.queue("work");
export const events = app.bus("events");
events.rule("all", { pattern: { source: ["bench.load"] }, targets: [work] });

export const ticker = app.function("ticker", { handler: "./src/ticker.ts", link: { results } });
app.schedule("tick", { every: "1s", target: ticker });

export const worker = app.function("worker", { handler: "./src/worker.ts" });
work.subscribe(worker, { batchSize: 10, concurrency: 2 });

export const loader = app.function("loader", {
  handler: "./src/loader.ts",
  routes: ["POST /load"],
  link: { events },
});

export default app;
