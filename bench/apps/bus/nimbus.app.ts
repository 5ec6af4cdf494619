// The bus benchmark's app: `producer` puts events from inside its handler on a bus with
// NIMBUS_BENCH_RULES rules (read when the app loads), each event matching one of them,
// and every rule targets the `sink` queue. `POST /send` sends the same events straight
// to the queue: the baseline, with no bus in the way.
import { App } from "@nimbus/core";

export const ruleCount = Number(process.env.NIMBUS_BENCH_RULES ?? "100");

const app = new App("bench-bus");

/** No consumer: the benchmark measures put → stored in the target queue. */
export const sink = app.queue("sink");
export const events = app.bus("events");

// Rules as apps write them: one per detail-type, most with a condition on the detail too;
// a quarter match a source prefix instead of an exact source.
for (let i = 0; i < ruleCount; i++) {
  events.rule(`r${i}`, {
    pattern: {
      source: i % 4 === 3 ? [{ prefix: "bench." }] : ["bench.api"],
      "detail-type": [`Type${i}`],
      ...(i % 2 === 0 ? { detail: { amount: [{ numeric: [">", 0] }] } } : {}),
    },
    targets: [sink],
  });
}

export const producer = app.function("producer", {
  handler: "./src/producer.ts",
  routes: ["POST /put", "POST /send"],
  link: { events, sink },
  timeout: "5m",
});

export default app;
