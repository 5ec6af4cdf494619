import { App, type NimbusEvent } from "@nimbus/core";
import type { Reading, TelemetryEvents } from "./src/readings";
import { alertRules } from "./src/rules";

const app = new App("telemetry");

/** Raw readings (`raw/<yyyy>/<mm>/<dd>/<hh>/<request>.json`), delivered alerts and hourly rollups. */
export const readings = app.bucket("readings");
/** One `Reading` event per accepted reading; the rules pick the ones worth an alert. */
export const telemetry = app.bus<TelemetryEvents>("telemetry");
/** Readings that met an alerting rule, as the whole event; `alerts-dlq` keeps those the pager never took. */
export const alerts = app.queue<NimbusEvent<Reading>>("alerts", {
  delivery: { maxAttempts: 4, backoff: { initial: "1s", max: "30s" } },
  deadLetter: true,
});

export const ingest = app.function("ingest", {
  handler: "./src/ingest.ts",
  routes: ["POST /readings"],
  link: { readings, telemetry },
  // Devices send in bursts: many requests at once, each mostly waiting on the bus and the bucket.
  concurrency: 50,
});

export const alert = app.function("alert", {
  handler: "./src/alert.ts",
  link: { readings },
});
alerts.subscribe(alert, { batchSize: 25, concurrency: 4 });

export const rollup = app.function("rollup", {
  handler: "./src/rollup.ts",
  // What the emulator and a deployment have taken since a time: counts and end-to-end lag.
  routes: ["GET /stats"],
  link: { readings },
  timeout: "1m",
});
app.schedule("hourly-rollup", { cron: "0 * * * *", target: rollup });

for (const [name, pattern] of Object.entries(alertRules)) {
  telemetry.rule(name, { pattern, targets: [alerts] });
}

export default app;
