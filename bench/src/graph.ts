/**
 * Issue #2's figure: the time to build and validate the graph of a generated app with
 * 1,000 functions, 1,000 queues and 200 rules, and the peak memory of doing it. Each
 * measured run is a fresh child process, so the peak RSS is that of the graph alone.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { App, serializeGraph, validateGraph } from "@nimbus/core";

export interface GraphSize {
  functions: number;
  queues: number;
  rules: number;
}

/** A large app shaped like a real one: routes, links, consumers, rules with patterns, schedules. */
export function generateApp(size: GraphSize): App {
  const app = new App("generated");
  const buckets = Array.from({ length: 10 }, (_, i) => app.bucket(`bucket-${i}`));
  const buses = Array.from({ length: 10 }, (_, i) => app.bus(`bus-${i}`));
  const queues = Array.from({ length: size.queues }, (_, i) =>
    app.queue(`queue-${i}`, { deadLetter: i % 10 === 0 ? true : undefined, visibilityTimeout: "1m" }),
  );
  for (let i = 0; i < size.functions; i++) {
    const fn = app.function(`fn-${i}`, {
      handler: `./src/fn-${i}.ts`,
      routes: [`GET /svc-${i}/items/:id`, `POST /svc-${i}/items`],
      link: {
        store: buckets[i % buckets.length]!,
        out: queues[(i + 1) % queues.length]!,
        bus: buses[i % buses.length]!,
      },
      timeout: "30s",
      config: { index: i },
    });
    queues[i % queues.length]?.subscribe(fn, { batchSize: 10 });
    if (i % 100 === 0) app.schedule(`tick-${i}`, { cron: "*/5 * * * *", timezone: "Europe/Berlin", target: fn });
  }
  for (let i = 0; i < size.rules; i++) {
    buses[i % buses.length]!.rule(`rule-${i}`, {
      pattern: {
        source: [`svc-${i % 37}`],
        "detail-type": [`Event${i % 13}`],
        detail: { amount: [{ numeric: [">", i] }], region: [{ prefix: "eu-" }] },
      },
      targets: [queues[i % queues.length]!],
    });
  }
  return app;
}

interface Sample {
  declareMs: number;
  toGraphMs: number;
  readBackMs: number;
  maxRssMiB: number;
  resources: number;
  edges: number;
}

/** One measured run, in this process: declare, build and validate, then read the JSON back as a target does. */
export function measureOnce(size: GraphSize): Sample {
  const t0 = performance.now();
  const app = generateApp(size);
  const t1 = performance.now();
  const graph = app.toGraph();
  const t2 = performance.now();
  validateGraph(JSON.parse(serializeGraph(graph)));
  const t3 = performance.now();
  return {
    declareMs: t1 - t0,
    toGraphMs: t2 - t1,
    readBackMs: t3 - t2,
    // maxRSS is in KiB.
    maxRssMiB: process.resourceUsage().maxRSS / 1024,
    resources: graph.resources.length,
    edges: graph.edges.length,
  };
}

export async function benchGraph(options: { smoke: boolean }): Promise<void> {
  const size: GraphSize = { functions: 1_000, queues: 1_000, rules: 200 };
  const runs = options.smoke ? 1 : 5;
  const samples: Sample[] = [];
  for (let i = 0; i < runs; i++) {
    const out = execFileSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), JSON.stringify(size)],
      {
        encoding: "utf8",
      },
    );
    samples.push(JSON.parse(out) as Sample);
  }
  const median = (pick: (s: Sample) => number) => {
    const values = samples.map(pick).sort((a, b) => a - b);
    return values[Math.floor(values.length / 2)]!;
  };
  const first = samples[0]!;
  console.log(`\n## Graph: ${size.functions} functions, ${size.queues} queues, ${size.rules} rules`);
  console.log(
    `   (${first.resources} resources, ${first.edges} edges; median of ${runs} fresh process${runs === 1 ? "" : "es"})`,
  );
  console.log(
    `   declare constructs       ${median((s) => s.declareMs)
      .toFixed(0)
      .padStart(6)} ms`,
  );
  console.log(
    `   toGraph (build+validate) ${median((s) => s.toGraphMs)
      .toFixed(0)
      .padStart(6)} ms`,
  );
  console.log(
    `   declare + toGraph        ${median((s) => s.declareMs + s.toGraphMs)
      .toFixed(0)
      .padStart(6)} ms   goal < 1000 ms`,
  );
  console.log(
    `   validateGraph(JSON)      ${median((s) => s.readBackMs)
      .toFixed(0)
      .padStart(6)} ms   (a target reading it back)`,
  );
  console.log(
    `   peak RSS                 ${median((s) => s.maxRssMiB)
      .toFixed(0)
      .padStart(6)} MiB  (whole process)`,
  );
}

// Run as a child: measure once and print the sample as JSON.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2]) {
  process.stdout.write(JSON.stringify(measureOnce(JSON.parse(process.argv[2]) as GraphSize)));
}
