/**
 * Event-pattern matching throughput: events per second through `compileRules` (the index) for 1,
 * 100, 1,000 and 10,000 rules, beside the baseline of trying every rule with `matchesPattern`.
 * Rules and events are generated from a fixed seed and shaped like a real bus: most rules name an
 * exact source and detail-type, many add numeric, prefix, anything-but or exists conditions on the
 * detail, a few use $or, lists or only non-exact operators.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { compileRules, type EventPattern, matchesPattern, type NimbusEvent, toEvent } from "@nimbus/core";

/** mulberry32: small, fast, and the same figures on every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const pick = <T>(next: Random, list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;
const int = (next: Random, below: number) => Math.floor(next() * below);

const domains = [
  "orders",
  "payments",
  "users",
  "inventory",
  "shipping",
  "billing",
  "catalog",
  "search",
  "auth",
  "mail",
];
const teams = ["acme", "globex", "initech", "umbrella", "hooli", "vandelay"];
/** 60 sources, each with its own 15 detail-types: 900 kinds of event. */
const sources = teams.flatMap((team) => domains.map((domain) => `com.${team}.${domain}`));
const entities = ["Order", "Payment", "User", "Item", "Parcel", "Invoice", "Product", "Session", "Token"];
const verbs = ["Created", "Updated", "Deleted", "Failed", "Completed", "Cancelled", "Refunded", "Expired"];
const detailTypesOf = new Map(
  sources.map((source, s) => [
    source,
    Array.from({ length: 15 }, (_, i) => `${entities[(s + i) % entities.length]}${verbs[(s * 7 + i) % verbs.length]}`),
  ]),
);
const detailTypes = (source: string) => detailTypesOf.get(source) ?? [];
const statuses = ["pending", "active", "suspended", "closed", "init-1", "init-2"];
const regions = ["eu-west-1", "eu-central-1", "us-east-1", "us-west-2", "ap-south-1"];
const currencies = ["EUR", "USD", "GBP", "JPY", "CHF"];
const tiers = ["gold", "silver", "bronze"];

function generateEvent(next: Random, index: number): NimbusEvent {
  const source = pick(next, sources);
  const detail: Record<string, unknown> = {
    id: `${index.toString(16).padStart(8, "0")}-${int(next, 1e9).toString(36)}`,
    amount: Math.round(next() * 100_000) / 100,
    currency: pick(next, currencies),
    status: pick(next, statuses),
    region: pick(next, regions),
    customer: { id: int(next, 100_000), tier: pick(next, tiers), country: pick(next, ["DE", "FR", "US", "JP", "IN"]) },
    items: Array.from({ length: 1 + int(next, 3) }, () => ({ sku: `SKU-${int(next, 500)}`, qty: 1 + int(next, 5) })),
  };
  if (next() < 0.3) detail.discount = Math.round(next() * 50);
  return toEvent(
    { source, detailType: pick(next, detailTypes(source)), detail, resources: [`arn:nimbus:${source}:${index % 97}`] },
    { id: `evt-${index}`, now: new Date(1_767_225_600_000 + index * 1000) },
  );
}

/** Zero to two extra conditions on the detail, as most real rules have. */
function detailConditions(next: Random): Record<string, unknown> | undefined {
  const detail: Record<string, unknown> = {};
  const options = [
    () =>
      (detail.amount = [
        {
          numeric: pick(next, [
            [">", 100],
            [">=", 10, "<", 500],
            ["<=", 50],
          ]),
        },
      ]),
    () => (detail.status = [{ "anything-but": pick(next, ["closed", ["closed", "suspended"]]) }]),
    () => (detail.region = [{ prefix: pick(next, ["eu-", "us-"]) }]),
    () => (detail.customer = { tier: [pick(next, tiers)] }),
    () => (detail.discount = [{ exists: next() < 0.5 }]),
    () => (detail.currency = [pick(next, currencies), pick(next, currencies)]),
  ];
  const count = int(next, 3);
  for (let i = 0; i < count; i++) pick(next, options)();
  return count === 0 ? undefined : detail;
}

function generateRule(next: Random): EventPattern {
  const source = pick(next, sources);
  const shape = next();
  const pattern: Record<string, unknown> = {};
  if (shape < 0.85) {
    pattern.source = [source];
    pattern["detail-type"] = [pick(next, detailTypes(source))];
  } else if (shape < 0.93) {
    pattern.source = [source];
  } else if (shape < 0.97) {
    pattern.source = [source, pick(next, sources)];
    pattern["detail-type"] = [pick(next, detailTypes(source)), pick(next, detailTypes(source))];
  } else if (shape < 0.99) {
    pattern.source = [source];
    pattern.$or = [{ "detail-type": [pick(next, detailTypes(source))] }, { detail: { status: ["suspended"] } }];
  } else {
    // No exact value anywhere: checked against every event.
    pattern.source = [{ prefix: `com.${pick(next, teams)}.` }];
    pattern.detail = { amount: [{ numeric: [">", 990] }] };
    return pattern as EventPattern;
  }
  const detail = detailConditions(next);
  if (detail) pattern.detail = detail;
  return pattern as EventPattern;
}

interface Throughput {
  eventsPerSecond: number;
  matchesPerEvent: number;
}

/**
 * Runs `match` over the events in batches, doubling the batch until one takes about a millisecond,
 * so reading the clock costs nothing measurable for fast matchers and slow ones still stop on time.
 * A first run of a fifth of the budget lets the JIT settle and is not counted; of three runs that
 * share the rest of the budget, the median counts.
 */
function measure(events: readonly NimbusEvent[], budgetMs: number, match: (event: NimbusEvent) => number): Throughput {
  let cursor = 0;
  const run = (ms: number): Throughput => {
    let processed = 0;
    let matches = 0;
    let batch = 1;
    const start = performance.now();
    let elapsed = 0;
    while (elapsed < ms) {
      const batchStart = performance.now();
      for (let i = 0; i < batch; i++) {
        matches += match(events[cursor] as NimbusEvent);
        cursor = cursor + 1 === events.length ? 0 : cursor + 1;
      }
      processed += batch;
      if (performance.now() - batchStart < 1) batch *= 2;
      elapsed = performance.now() - start;
    }
    return { eventsPerSecond: (processed / elapsed) * 1000, matchesPerEvent: matches / processed };
  };
  run(budgetMs / 5);
  const runs = [run(budgetMs / 3), run(budgetMs / 3), run(budgetMs / 3)];
  runs.sort((a, b) => a.eventsPerSecond - b.eventsPerSecond);
  return runs[1] as Throughput;
}

interface Options {
  rules: number;
  smoke: boolean;
}

interface Row {
  rules: number;
  events: number;
  compileMs: number;
  index: Throughput;
  baseline: Throughput;
}

/** One row of the table, measured in this process. */
export function measureRules(options: Options): Row {
  const eventCount = options.smoke ? 1_000 : 50_000;
  const budgetMs = options.smoke ? 60 : 1_500;
  const next = random(20_260_101);
  const events = Array.from({ length: eventCount }, (_, i) => generateEvent(next, i));
  const rules = Array.from({ length: options.rules }, (_, i) => ({ name: `rule-${i}`, pattern: generateRule(next) }));

  const t0 = performance.now();
  const compiled = compileRules(rules);
  const compileMs = performance.now() - t0;

  // The two must agree before their speed means anything; this also compiles every pattern once.
  for (const event of events.slice(0, 200)) {
    const expected = rules.filter((rule) => matchesPattern(rule.pattern, event)).map((rule) => rule.name);
    if (compiled.match(event).join() !== expected.join()) throw new Error(`index and baseline disagree on ${event.id}`);
  }

  const index = measure(events, budgetMs, (event) => compiled.match(event).length);
  const baseline = measure(events, budgetMs, (event) => {
    let matched = 0;
    for (const rule of rules) if (matchesPattern(rule.pattern, event)) matched++;
    return matched;
  });
  return { rules: options.rules, events: eventCount, compileMs, index, baseline };
}

const rate = (value: number) => Math.round(value).toLocaleString("en-US").padStart(12);

/**
 * Prints events/s for 1, 100, 1,000 and 10,000 rules, each measured in a fresh process so one
 * size's JIT state does not colour the next. Smoke: up to 1,000 rules, fewer events, one process.
 */
export async function benchPatterns(options: { smoke: boolean }): Promise<void> {
  const ruleCounts = options.smoke ? [1, 100, 1_000] : [1, 100, 1_000, 10_000];
  // Smoke runs stay in this process to finish quickly; real runs give each size a fresh process.
  const rows = ruleCounts.map((rules): Row => {
    if (options.smoke) return measureRules({ rules, smoke: true });
    const out = execFileSync(
      process.execPath,
      [...process.execArgv, fileURLToPath(import.meta.url), JSON.stringify({ rules, smoke: false })],
      { encoding: "utf8" },
    );
    return JSON.parse(out) as Row;
  });

  console.log(
    `\n## Patterns: events/s matching ${rows[0]?.events.toLocaleString("en-US")} generated events against N rules`,
  );
  console.log("   (index = compileRules; one by one = matchesPattern on every rule, the baseline)");
  console.log("   rules   compile ms      index ev/s  one by one ev/s   speedup   matches/event");
  for (const row of rows) {
    console.log(
      `   ${row.rules.toLocaleString("en-US").padStart(6)} ${row.compileMs.toFixed(1).padStart(11)} ${rate(row.index.eventsPerSecond)}    ${rate(row.baseline.eventsPerSecond)}  ${(row.index.eventsPerSecond / row.baseline.eventsPerSecond).toFixed(1).padStart(7)}x ${row.index.matchesPerEvent.toFixed(2).padStart(14)}`,
    );
  }

  const at = (count: number) => rows.find((row) => row.rules === count)?.index.eventsPerSecond ?? 0;
  const verdict = (ok: boolean) => (ok ? "ok" : "MISSED");
  console.log(`   goal: >= 500,000 ev/s with 1 rule: ${verdict(at(1) >= 500_000)}`);
  console.log(`   goal: >= 100,000 ev/s with 1,000 rules: ${verdict(at(1_000) >= 100_000)}`);
  if (ruleCounts.includes(10_000)) {
    const drop = at(100) / at(10_000);
    console.log(`   100 -> 10,000 rules: ${drop.toFixed(1)}x slower (goal: far less than 100x)`);
  }
}

// Run as a child: measure one row and print it as JSON.
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2]) {
  process.stdout.write(JSON.stringify(measureRules(JSON.parse(process.argv[2]) as Options)));
}
