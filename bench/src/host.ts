/**
 * Issue #14's figures for the deployed host, each beside the emulator's (or raw Hono's)
 * from the same run: queue send → handler → ack on JetStream, hello-world throughput,
 * start to ready and memory at rest, and bus put → queue target with 1,000 rules through
 * the control role's router. The hosts run the bundled `main.js` the Docker image runs,
 * on nats-server with the rendered per-user configuration (see host-deployment.ts), and
 * the bench apps and handlers are the emulator benchmarks' own.
 */
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { natsServerMissing } from "@nimbus/runtime/host/testing";
import type { SinkStats } from "../apps/queues/src/loops.ts";
import { type Row as BusRow, measure as measureBusOnEmulator } from "./bus.ts";
import { load } from "./emulator.ts";
import {
  bundleHost,
  deployApp,
  type HostDeployment,
  type HostProcess,
  startHost,
  startServer,
} from "./host-deployment.ts";
import {
  type Figures,
  full as fullQueues,
  measure as measureQueues,
  measureNimbus as measureQueuesOnEmulator,
  type Side,
  smoke as smokeQueues,
} from "./queues.ts";
import { benchDir, formatCount as count, median } from "./support.ts";

interface Settings {
  /** Seconds of each hello-world load. */
  seconds: number;
  /** Starts of each host kind, for start to ready and memory. */
  starts: number;
  /** Idle time after ready before the memory is read. */
  restMs: number;
  bus: { count: number; batch: number; runs: number; rules: number };
}
const full: Settings = {
  seconds: 10,
  starts: 5,
  restMs: 2_000,
  bus: { count: 10_000, batch: 10, runs: 3, rules: 1_000 },
};
const smoke: Settings = { seconds: 1, starts: 1, restMs: 100, bus: { count: 200, batch: 10, runs: 1, rules: 1_000 } };

const ms = (value: number, digits = 0) => `${value.toFixed(digits)} ms`;
const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;
const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

async function call<T>(host: HostProcess, path: string, body?: unknown, method = "POST"): Promise<T> {
  const response = await fetch(`${host.url}${path}`, {
    method,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}

/** The queue benchmark's measurement (queues.ts) with the producer and the sink as host processes. */
async function queuesOnHosts(entry: string, settings: typeof fullQueues): Promise<Figures & { rss: number }> {
  const deployment = await deployApp("queues");
  const hosts: HostProcess[] = [];
  try {
    const sink = await startHost(entry, deployment.env({ function: "sink" }));
    hosts.push(sink);
    const producer = await startHost(entry, deployment.env({ function: "producer" }));
    hosts.push(producer);
    const side: Side = {
      reset: () => call(sink, "/reset"),
      run: (run) => call(producer, "/run", run),
      // Polled: the sink's clock records when the last batch ended, so the poll's period does not count.
      async handled(target) {
        const deadline = Date.now() + 60_000;
        for (;;) {
          const stats = await call<SinkStats>(sink, "/stats", undefined, "GET");
          if (stats.count >= target) return stats;
          if (Date.now() > deadline) throw new Error(`the sink handled ${stats.count} of ${target} messages in 60 s`);
          await sleep(5);
        }
      },
    };
    const figures = await measureQueues(side, settings);
    return { ...figures, rss: await sink.rss() };
  } finally {
    await Promise.all(hosts.map((host) => host.stop()));
    await deployment.close();
  }
}

async function benchQueuesOnHosts(entry: string, smokePass: boolean): Promise<void> {
  const settings = smokePass ? smokeQueues : fullQueues;
  const host = await queuesOnHosts(entry, settings);
  const emulator = await measureQueuesOnEmulator(settings);
  const judge = (met: boolean) => (met || smokePass ? "" : "   MISSED");
  const line = (name: string, ours: string, theirs: string, ratio: string, goal: string) =>
    `   ${name.padEnd(22)}${ours.padStart(12)}${theirs.padStart(12)}${ratio.padStart(9)}   ${goal}`;
  const ratio = (ours: number, theirs: number) => (theirs > 0 ? `${(ours / theirs).toFixed(2)}×` : "—");
  const runs = settings.runs > 1 ? `median of ${settings.runs} runs after a warm-up` : "1 run";
  console.log(
    `\n## Host queues: send → handler → ack on JetStream, producer and consumer hosts (messages/s: ${runs}; latency: ${settings.latency} messages one at a time, consumer idle)`,
  );
  console.log(`   ${"".padEnd(22)}${"host".padStart(12)}${"emulator".padStart(12)}${"ratio".padStart(9)}   goal`);
  console.log(
    line(
      `single sends ×${count(settings.single.count)}`,
      `${count(host.single)}/s`,
      `${count(emulator.single)}/s`,
      ratio(host.single, emulator.single),
      `≥ 5,000/s${judge(host.single >= 5_000)}`,
    ),
  );
  console.log(
    line(
      `batches of ${settings.batch} ×${count(settings.batched.count)}`,
      `${count(host.batched)}/s`,
      `${count(emulator.batched)}/s`,
      ratio(host.batched, emulator.batched),
      `≥ 20,000/s${judge(host.batched >= 20_000)}`,
    ),
  );
  console.log(line("p50 send → handler", ms(host.p50, 2), ms(emulator.p50, 2), ratio(host.p50, emulator.p50), "—"));
  console.log(line("p99 send → handler", ms(host.p99, 2), ms(emulator.p99, 2), ratio(host.p99, emulator.p99), "—"));
  console.log(
    `   host: JetStream file storage (nats-server defaults, per-user permissions), the same app and consumer settings as the emulator's (batchSize 100, maxBatchWait 0s, concurrency 1); sink RSS after the runs ${mb(host.rss)}`,
  );
  console.log("   latency clock: performance.timeOrigin + now() in two processes (the emulator: two worker threads)");
}

async function benchHttp(entry: string, settings: Settings): Promise<void> {
  const deployment = await deployApp("hello");
  const started: HostProcess[] = [];
  try {
    const raw = await startServer((port) => [join(benchDir, "src/raw-hono.ts"), String(port)], {}, "/hello");
    started.push(raw);
    const rawResult = await load(`${raw.url}/hello`, settings.seconds);
    await raw.stop();
    const host = await startHost(entry, deployment.env({ function: "hello" }));
    started.push(host);
    const ours = await load(`${host.url}/hello`, settings.seconds);
    const loadedRss = await host.rss();
    const row = (name: string, r: { rps: number; p99: number; errors: number }) =>
      `   ${name.padEnd(36)} ${r.rps.toFixed(0).padStart(7)} req/s   p99 ${String(r.p99).padStart(4)} ms${r.errors ? `   (${r.errors} errors/non-2xx)` : ""}`;
    const ratio = ours.rps / rawResult.rps;
    const missed = ratio < 0.8 && settings.seconds > 1 ? "   MISSED" : "";
    console.log(
      `\n## Host throughput: hello world, 50 connections, ${settings.seconds} s (autocannon, as the emulator's)`,
    );
    console.log(row("raw @hono/node-server (baseline)", rawResult));
    console.log(`${row("host (function role)", ours)}   ${ratio.toFixed(2)}× raw; goal ≥ 0.8×${missed}`);
    console.log(`   host RSS after the load ${mb(loadedRss)}; the host logs one JSON line per request, as deployed`);
  } finally {
    await Promise.all(started.map((host) => host.stop()));
    await deployment.close();
  }
}

async function benchStart(entry: string, settings: Settings): Promise<void> {
  const deployment = await deployApp("hello");
  try {
    const sample = async (args: () => string[], env: Record<string, string>) => {
      const ready: number[] = [];
      const rss: number[] = [];
      for (let i = 0; i < settings.starts; i++) {
        const host = await startServer(args, env, "/_nimbus/health/ready");
        try {
          ready.push(host.readyMs);
          await sleep(settings.restMs);
          rss.push(await host.rss());
        } finally {
          await host.stop();
        }
      }
      return { ready: median(ready), rss: median(rss) };
    };
    const hostMain = join(benchDir, "../packages/runtime/src/host/main.ts");
    const fromSource = () => ["--conditions=nimbus-source", "--disable-warning=ExperimentalWarning", hostMain];
    const fn = await sample(() => [entry], deployment.env({ function: "hello" }));
    const control = await sample(() => [entry], deployment.env("control"));
    const source = await sample(fromSource, deployment.env({ function: "hello" }));
    const judge = (met: boolean) => (met || settings.starts < 2 ? "" : "   MISSED");
    const line = (name: string, r: { ready: number; rss: number }, goals: boolean) =>
      `   ${name.padEnd(38)}${ms(r.ready).padStart(8)}${mb(r.rss).padStart(9)}${goals ? `   goal < 300 ms${judge(r.ready < 300)}, < 80 MB${judge(r.rss < 80e6)}` : ""}`;
    console.log(
      `\n## Host start: spawn → /_nimbus/health/ready 200 (polled every 5 ms), and VmRSS ${settings.restMs} ms after ready (median of ${settings.starts})`,
    );
    console.log(`   ${"".padEnd(38)}${"ready".padStart(8)}${"RSS".padStart(9)}`);
    console.log(line("function role, bundled main.js", fn, true));
    console.log(line("control role, bundled main.js", control, true));
    console.log(line("function role, from source (type strip)", source, false));
  } finally {
    await deployment.close();
  }
}

/** events/s from the first put until the sink queue holds every routed event. */
async function busRate(
  deployment: HostDeployment,
  producer: HostProcess,
  path: "/put" | "/send",
  run: { count: number; batch: number; rules: number },
): Promise<{ rate: number; putRate: number }> {
  const jsm = await jetstreamManager(deployment.nc);
  for await (const stream of jsm.streams.list()) await jsm.streams.purge(stream.config.name);
  const started = performance.now();
  const { ms: putMs } = await call<{ ms: number }>(producer, path, run);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { depth } = await deployment.admin.stats("sink");
    if (depth === run.count) break;
    if (depth > run.count) throw new Error(`${path}: put ${run.count} events; the queue holds ${depth}`);
    if (Date.now() > deadline) throw new Error(`${path}: ${depth} of ${run.count} events reached the queue in 120 s`);
    await sleep(5);
  }
  const total = performance.now() - started;
  return { rate: (run.count / total) * 1000, putRate: (run.count / putMs) * 1000 };
}

async function benchBusOnHosts(entry: string, settings: Settings, smokePass: boolean): Promise<void> {
  const { rules } = settings.bus;
  const deployment = await deployApp("bus", { NIMBUS_BENCH_RULES: String(rules) });
  const hosts: HostProcess[] = [];
  let routed: { rate: number; putRate: number };
  let direct: { rate: number; putRate: number };
  let controlRss: number;
  const graphBytes = Buffer.byteLength(JSON.stringify(deployment.graph));
  const viaFile = deployment.graphViaFile;
  try {
    const control = await startHost(entry, deployment.env("control"));
    hosts.push(control);
    const producer = await startHost(entry, deployment.env({ function: "producer" }));
    hosts.push(producer);
    const samples = async (path: "/put" | "/send") => {
      const run = { count: settings.bus.count, batch: settings.bus.batch, rules };
      await busRate(deployment, producer, path, { ...run, count: Math.min(run.count, 500) }); // warm-up
      const results: { rate: number; putRate: number }[] = [];
      for (let i = 0; i < settings.bus.runs; i++) results.push(await busRate(deployment, producer, path, run));
      return { rate: median(results.map((r) => r.rate)), putRate: median(results.map((r) => r.putRate)) };
    };
    routed = await samples("/put");
    direct = await samples("/send");
    controlRss = await control.rss();
  } finally {
    await Promise.all(hosts.map((host) => host.stop()));
    await deployment.close();
  }
  const busSettings = smokePass
    ? { batched: settings.bus.count, single: 50, runs: 1 }
    : { batched: settings.bus.count, single: 2_000, runs: settings.bus.runs };
  const emulator: BusRow = await measureBusOnEmulator(rules, busSettings);
  const runs = settings.bus.runs > 1 ? `median of ${settings.bus.runs} runs after a warm-up` : "1 run";
  const rate = (value: number) => `${count(value)}/s`;
  console.log(
    `\n## Host event bus: put → stored in a queue target through the control role's router, ${count(rules)} rules (${count(settings.bus.count)} events ${settings.bus.batch} per put; ${runs})`,
  );
  console.log(`   ${"".padEnd(40)}${"host".padStart(12)}${"emulator".padStart(12)}`);
  console.log(
    `   ${"put → stored in the queue".padEnd(40)}${rate(routed.rate).padStart(12)}${rate(emulator.batched).padStart(12)}`,
  );
  console.log(
    `   ${"put → stored on the bus stream".padEnd(40)}${rate(routed.putRate).padStart(12)}${"—".padStart(12)}`,
  );
  console.log(
    `   ${"queue sendBatch (no bus, the floor)".padEnd(40)}${rate(direct.rate).padStart(12)}${rate(emulator.direct).padStart(12)}`,
  );
  console.log(
    `   host: every event matches one rule; the router runs in the control role (RSS ${mb(controlRss)} after the runs); the emulator stores the put and its deliveries in one SQLite transaction`,
  );
  if (viaFile) {
    console.log(
      `   the graph is ${(graphBytes / 1024).toFixed(0)} KiB, over the 128 KiB one environment variable may hold (spawn fails with E2BIG): the host read it from NIMBUS_GRAPH_FILE`,
    );
  }
}

export async function benchHost(options: { smoke: boolean }): Promise<void> {
  const missing = natsServerMissing();
  if (missing) {
    console.log(`\n## Deployed host: skipped, ${missing}`);
    return;
  }
  const settings = options.smoke ? smoke : full;
  // For a before/after comparison run back to back: a host bundled earlier, and a subset of the parts.
  const given = process.env.NIMBUS_BENCH_HOST_ENTRY;
  const bundle = given ? { file: given, remove: async () => {} } : await bundleHost();
  const parts = new Set((process.env.NIMBUS_BENCH_HOST_PARTS ?? "queues,http,start,bus").split(","));
  if (given) console.log(`\n(host: ${given})`);
  try {
    if (parts.has("queues")) await benchQueuesOnHosts(bundle.file, options.smoke);
    if (parts.has("http")) await benchHttp(bundle.file, settings);
    if (parts.has("start")) await benchStart(bundle.file, settings);
    if (parts.has("bus")) await benchBusOnHosts(bundle.file, settings, options.smoke);
  } finally {
    await bundle.remove();
  }
}
