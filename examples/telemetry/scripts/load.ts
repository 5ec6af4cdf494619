/**
 * A burst of readings against the telemetry example, and how the target kept up.
 *
 *   node --conditions=nimbus-source examples/telemetry/scripts/load.ts [--url <base>] [--readings 50000]
 *        [--batch 500] [--concurrency 8] [--drain-timeout 300] [--json]
 *   ./pnpm --filter @nimbus-examples/telemetry load -- --readings 2000
 *
 * Without `--url` it starts the example in the emulator (real clock, a temporary state
 * folder) and measures that; with `--url` it drives a running target: `nimbus dev`
 * (queue depth through the control API, with NIMBUS_EMULATOR_TOKEN set to the run's
 * token) or a Docker deployment's gateway (no queue depth there yet: the report says so).
 *
 * It reports accepted readings per second, the `alerts` queue's depth and the bus's
 * backlog over time, end-to-end lag from each reading's `at` to its raw object being
 * stored and to its alert being paged (from the app's own `GET /stats`), and the RSS of
 * this process tree (the emulator runs in it).
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { matchesPattern } from "@nimbus/core";
import { createEmulator, type Emulator } from "@nimbus/emulator/testing";
import type { Reading } from "../src/readings.ts";
import type { Lag, Stats } from "../src/rollup.ts";
import { alertRules } from "../src/rules.ts";

export interface LoadReport {
  target: string;
  readings: number;
  accepted: number;
  rejected: number;
  sendSeconds: number;
  acceptedPerSecond: number;
  requestMs: Lag;
  /** Alerts the pager takes; `expectedDeadLetters` more end in `alerts-dlq` after their retries. */
  expectedAlerts: number;
  expectedDeadLetters: number;
  /** Sampled every quarter second while sending and draining; null where the target exposes no depth. */
  depth: { t: number; alerts: number; busBacklog: number; deadLettered: number }[] | null;
  drainSeconds: number;
  drained: boolean;
  stats: Stats | null;
  /** In MiB; null for a remote target. */
  rssMiB: { start: number; peak: number; end: number } | null;
  notes: string[];
}

const exampleDir = join(dirname(fileURLToPath(import.meta.url)), "..");

/** A small deterministic PRNG (mulberry32), so every run sends the same readings. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

const deviceTypes = ["thermostat", "freezer-chest", "sensor", "test-rig"] as const;

/** The i-th reading's device, metric and value: about 3 % of them meet an alerting rule. */
function makeReading(next: () => number, i: number): Omit<Reading, "at"> {
  // One reading in 2,000 is an overheating device with no on-call route: its alert ends in alerts-dlq.
  if (i % 2000 === 1999)
    return { deviceId: `offline-${i}`, deviceType: "thermostat", metric: "temperature", value: 95 };
  const type = deviceTypes[i % deviceTypes.length]!;
  const deviceId = `${type}-${i % 250}`;
  const roll = next();
  switch (type) {
    case "thermostat":
      return {
        deviceId,
        deviceType: type,
        metric: "temperature",
        value: roll < 0.03 ? 80 + roll * 100 : 15 + roll * 10,
      };
    case "freezer-chest":
      return { deviceId, deviceType: type, metric: "temperature", value: roll < 0.03 ? -10 : -22 + roll * 4 };
    case "sensor":
      return roll < 0.02
        ? { deviceId, deviceType: type, metric: "humidity", value: 50, battery: 5 }
        : roll < 0.04
          ? { deviceId, deviceType: type, metric: "humidity", value: 50, fault: "probe disconnected" }
          : { deviceId, deviceType: type, metric: "humidity", value: 30 + roll * 40, battery: 80 };
    default:
      return { deviceId, deviceType: type, metric: "temperature", value: 99, fault: "rig" };
  }
}

/** Whether the reading meets an alerting rule; the pager takes all but those of `offline-` devices (src/pager.ts). */
const alerting = (reading: Omit<Reading, "at">) =>
  Object.values(alertRules).some((pattern) =>
    matchesPattern(pattern, {
      source: "telemetry.ingest",
      "detail-type": "Reading",
      detail: { ...reading, at: "" },
    }),
  );

function percentiles(samples: number[]): Lag {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
  return { p50: Math.round(at(0.5)), p95: Math.round(at(0.95)), max: Math.round(sorted.at(-1) ?? 0) };
}

/** RSS in bytes of `pid` and every process below it (Linux /proc), or of this process elsewhere. */
function treeRss(pid = process.pid): number {
  try {
    const children = new Map<number, number[]>();
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        // The command name is in parentheses and may hold spaces; the parent pid is the 2nd field after it.
        const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
        const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
      } catch {
        // the process ended meanwhile
      }
    }
    let total = 0;
    const queue = [pid];
    while (queue.length > 0) {
      const current = queue.pop()!;
      try {
        const pages = Number(readFileSync(`/proc/${current}/statm`, "utf8").split(" ")[1]);
        total += pages * 4096;
      } catch {
        // ended meanwhile
      }
      queue.push(...(children.get(current) ?? []));
    }
    return total;
  } catch {
    return process.memoryUsage().rss;
  }
}

const mib = (bytes: number) => Math.round(bytes / 1_048_576);

export interface LoadOptions {
  url?: string;
  readings: number;
  batch: number;
  concurrency: number;
  drainTimeoutSeconds: number;
  /** Where progress lines go. */
  log?: (line: string) => void;
}

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const log = options.log ?? (() => {});
  const notes: string[] = [];
  let emu: Emulator | undefined;
  if (!options.url) {
    emu = await createEmulator({ root: exampleDir, watch: false });
    log(`emulator started on ${emu.url}`);
  }
  const base = options.url ?? emu!.url;
  const token = emu?.controlToken ?? process.env.NIMBUS_EMULATOR_TOKEN;
  const local = emu !== undefined;
  const rssStart = local ? treeRss() : 0;
  let rssPeak = rssStart;

  try {
    // Depth: the emulator's control API answers it; a Docker deployment's gateway does not (yet).
    const control = async (path: string): Promise<unknown> => {
      const response = await fetch(new URL(`/_nimbus/${path}`, base), {
        headers: token ? { "x-nimbus-token": token } : {},
      });
      if (!response.ok || !response.headers.get("content-type")?.includes("json")) {
        throw new Error(`${response.status}`);
      }
      return response.json();
    };
    type QueueStats = { depth: number; inFlight: number; delayed: number; deadLettered: number };
    let depth: LoadReport["depth"] = [];
    try {
      await control("queues");
    } catch {
      depth = null;
      notes.push(
        `queue depth: not available: ${base} answers no control API (/_nimbus/queues)${token ? "" : " and NIMBUS_EMULATOR_TOKEN is unset"}; a Docker deployment exposes none yet`,
      );
    }
    if (!local) notes.push("memory: not measured: the target runs outside this process tree");

    const started = Date.now();
    const sample = async () => {
      if (local) rssPeak = Math.max(rssPeak, treeRss());
      if (!depth) return;
      try {
        const queues = (await control("queues")) as Record<string, QueueStats>;
        const deliveries = (await control("deliveries")) as Record<string, QueueStats>;
        const alerts = queues.alerts;
        depth.push({
          t: (Date.now() - started) / 1000,
          alerts: alerts ? alerts.depth + alerts.inFlight + alerts.delayed : 0,
          busBacklog: Object.values(deliveries).reduce((sum, s) => sum + s.depth + s.inFlight + s.delayed, 0),
          deadLettered: queues["alerts-dlq"]?.depth ?? 0,
        });
      } catch {
        // a sample missed under load; the next one comes
      }
    };
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        await sample();
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      await sample();
    })();

    // The burst: batches of readings, `concurrency` requests in flight.
    const next = random(42);
    const shapes = Array.from({ length: options.readings }, (_, i) => makeReading(next, i));
    const alerted = shapes.filter(alerting);
    const expectedDead = alerted.filter((shape) => shape.deviceId.startsWith("offline-")).length;
    const expectedAlerts = alerted.length - expectedDead;
    const since = new Date(started - 1000).toISOString();
    let accepted = 0;
    let rejected = 0;
    const requestMs: number[] = [];
    let nextBatch = 0;
    const sender = async () => {
      while (nextBatch * options.batch < shapes.length) {
        const start = nextBatch++ * options.batch;
        const at = new Date().toISOString();
        const readings = shapes.slice(start, start + options.batch).map((shape) => ({ ...shape, at }));
        const sent = performance.now();
        const response = await fetch(new URL("/readings", base), {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ readings }),
        });
        requestMs.push(performance.now() - sent);
        if (response.status === 202) accepted += readings.length;
        else {
          rejected += readings.length;
          if (rejected === readings.length)
            notes.push(`first refused batch: ${response.status} ${await response.text()}`);
          else await response.body?.cancel();
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, sender));
    const sendSeconds = (Date.now() - started) / 1000;
    log(
      `sent ${options.readings} readings in ${sendSeconds.toFixed(1)} s; waiting for ${expectedAlerts} alerts and ${expectedDead} dead letters`,
    );

    // Drain: until every accepted reading is stored and every alert paged, by the app's own count.
    let stats: Stats | null = null;
    let drained = false;
    const drainStarted = Date.now();
    while (Date.now() - drainStarted < options.drainTimeoutSeconds * 1000) {
      const response = await fetch(new URL(`/stats?since=${encodeURIComponent(since)}`, base));
      if (response.ok) {
        stats = (await response.json()) as Stats;
        const alertsDone = rejected > 0 || stats.alerts.handled >= expectedAlerts;
        // Where depth is visible, also until the unreachable devices' alerts have reached the dead-letter queue.
        const dead = depth ? ((await control("queues")) as Record<string, QueueStats>)["alerts-dlq"]?.depth : undefined;
        const deadDone = rejected > 0 || dead === undefined || dead >= expectedDead;
        if (stats.raw.readings >= accepted && alertsDone && deadDone) {
          drained = true;
          break;
        }
      } else await response.body?.cancel();
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    const drainSeconds = (Date.now() - drainStarted) / 1000;
    if (!drained) notes.push(`not drained within ${options.drainTimeoutSeconds} s: the figures below are partial`);
    sampling = false;
    await sampler;

    return {
      target: local ? "emulator (in this process)" : base,
      readings: options.readings,
      accepted,
      rejected,
      sendSeconds,
      acceptedPerSecond: Math.round(accepted / sendSeconds),
      requestMs: percentiles(requestMs),
      expectedAlerts,
      expectedDeadLetters: expectedDead,
      depth,
      drainSeconds,
      drained,
      stats,
      rssMiB: local ? { start: mib(rssStart), peak: mib(rssPeak), end: mib(treeRss()) } : null,
      notes,
    };
  } finally {
    await emu?.close();
  }
}

/** The report as a person reads it: figures, then depth over time, one line a second. */
export function formatReport(report: LoadReport): string {
  const lag = (value: Lag | null | undefined) =>
    value ? `p50 ${value.p50} ms, p95 ${value.p95} ms, max ${value.max} ms` : "n/a";
  const lines = [
    `target            ${report.target}`,
    `readings          ${report.readings} sent, ${report.accepted} accepted, ${report.rejected} refused`,
    `burst             ${report.sendSeconds.toFixed(1)} s: ${report.acceptedPerSecond} readings/s accepted; request ${lag(report.requestMs)}`,
    `drain             ${report.drained ? "done" : "NOT done"} ${report.drainSeconds.toFixed(1)} s after the burst`,
    `raw stored        ${report.stats?.raw.readings ?? "?"} readings in ${report.stats?.raw.objects ?? "?"} objects; lag ${lag(report.stats?.raw.lagMs)}`,
    `alerts paged      ${report.stats?.alerts.handled ?? "?"} of ${report.expectedAlerts} expected; lag ${lag(report.stats?.alerts.lagMs)}`,
  ];
  if (report.stats) lines.push(`alerts by reason  ${JSON.stringify(report.stats.alerts.byReason)}`);
  if (report.rssMiB) {
    lines.push(
      `memory (RSS)      ${report.rssMiB.start} MiB at start, ${report.rssMiB.peak} MiB peak, ${report.rssMiB.end} MiB at the end`,
    );
  }
  if (report.depth && report.depth.length > 0) {
    const peak = report.depth.reduce((a, b) => (b.alerts + b.busBacklog > a.alerts + a.busBacklog ? b : a));
    lines.push(
      `depth peak        alerts ${peak.alerts}, bus backlog ${peak.busBacklog} at ${peak.t.toFixed(1)} s; dead-lettered ${report.depth.at(-1)!.deadLettered} of ${report.expectedDeadLetters} expected`,
      "",
      "     t  alerts  bus backlog  dead-lettered",
    );
    let shown = -1;
    for (const sample of report.depth) {
      if (Math.floor(sample.t) === shown && sample !== report.depth.at(-1)) continue;
      shown = Math.floor(sample.t);
      lines.push(
        `${sample.t.toFixed(1).padStart(6)}  ${String(sample.alerts).padStart(6)}  ${String(sample.busBacklog).padStart(11)}  ${String(sample.deadLettered).padStart(13)}`,
      );
    }
  }
  for (const note of report.notes) lines.push(`note: ${note}`);
  return lines.join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  // `pnpm … load -- --readings 2000` passes the `--` on.
  const args = process.argv.slice(2);
  const { values } = parseArgs({
    args: args[0] === "--" ? args.slice(1) : args,
    options: {
      url: { type: "string" },
      readings: { type: "string", default: "50000" },
      batch: { type: "string", default: "500" },
      concurrency: { type: "string", default: "8" },
      "drain-timeout": { type: "string", default: "300" },
      json: { type: "boolean", default: false },
    },
  });
  const count = (name: string, value: string, max: number) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      console.error(`--${name} expects a whole number from 1 to ${max}; got ${value}`);
      process.exit(2);
    }
    return n;
  };
  const report = await runLoad({
    url: values.url,
    readings: count("readings", values.readings, 10_000_000),
    batch: count("batch", values.batch, 500),
    concurrency: count("concurrency", values.concurrency, 1000),
    drainTimeoutSeconds: count("drain-timeout", values["drain-timeout"], 86_400),
    log: (line) => console.error(line),
  });
  console.log(values.json ? JSON.stringify(report) : formatReport(report));
  if (!report.drained || report.rejected > 0) process.exitCode = 1;
}
