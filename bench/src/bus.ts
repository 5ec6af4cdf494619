/**
 * The bus issue's figure: events/s from `put` to a queue target, with 100 and with 1,000
 * rules on the bus, beside 1 rule and beside sending the same messages straight to the
 * queue (the floor: what storing them costs without a bus). Events are put from inside a
 * handler through the binding, 10 per call and one per call; each matches one rule, and
 * a run counts as done when its last put has stored its delivery (puts store before they
 * resolve). Every run's queue depth is checked against the events put.
 */
import type { Emulator } from "@nimbus/emulator";
import type { PutRun } from "../apps/bus/src/run.ts";
import { callJson, formatCount, median, withBenchEmulator } from "./support.ts";

export interface Settings {
  batched: number;
  single: number;
  runs: number;
}
export const full: Settings = { batched: 10_000, single: 2_000, runs: 3 };
export const smoke: Settings = { batched: 200, single: 50, runs: 1 };

export interface Row {
  rules: number;
  batched: number;
  single: number;
  direct: number;
}

async function rate(emu: Emulator, path: "/put" | "/send", run: PutRun): Promise<number> {
  await emu.reset();
  const { ms } = await callJson<{ ms: number }>(emu, path, run);
  const { depth } = emu.queue("sink").stats();
  if (depth !== run.count) throw new Error(`${path}: put ${run.count} events; the queue holds ${depth}`);
  return (run.count / ms) * 1000;
}

export async function measure(rules: number, settings: Settings): Promise<Row> {
  // The app file reads it as it loads.
  process.env.NIMBUS_BENCH_RULES = String(rules);
  try {
    return await withBenchEmulator("bus", async (emu) => {
      const samples = async (path: "/put" | "/send", count: number, batch: number) => {
        await rate(emu, path, { count: Math.min(count, 500), batch, rules }); // warm-up
        const rates: number[] = [];
        for (let i = 0; i < settings.runs; i++) rates.push(await rate(emu, path, { count, batch, rules }));
        return median(rates);
      };
      return {
        rules,
        batched: await samples("/put", settings.batched, 10),
        single: await samples("/put", settings.single, 1),
        direct: await samples("/send", settings.batched, 10),
      };
    });
  } finally {
    delete process.env.NIMBUS_BENCH_RULES;
  }
}

const count = (value: number) => `${formatCount(value)}/s`;

export async function benchBus(options: { smoke: boolean }): Promise<void> {
  const settings = options.smoke ? smoke : full;
  const rows: Row[] = [];
  for (const rules of [1, 100, 1_000]) rows.push(await measure(rules, settings));
  const runs = settings.runs > 1 ? `median of ${settings.runs} runs after a warm-up` : "1 run";
  console.log(
    `\n## Event bus: put → stored in a queue target, put from a handler (${count(settings.batched).replace("/s", "")} events 10 per put, ${count(settings.single).replace("/s", "")} one per put; ${runs})`,
  );
  console.log(
    `   ${"rules".padEnd(8)}${"10 per put".padStart(12)}${"1 per put".padStart(12)}${"queue sendBatch".padStart(17)}${"bus ÷ queue".padStart(13)}`,
  );
  for (const row of rows) {
    console.log(
      `   ${row.rules.toLocaleString("en-US").padEnd(8)}${count(row.batched).padStart(12)}${count(row.single).padStart(12)}${count(row.direct).padStart(17)}${`${(row.batched / row.direct).toFixed(2)}×`.padStart(13)}`,
    );
  }
  const [one, , thousand] = rows;
  console.log(
    `   1,000 rules ÷ 1 rule (10 per put): ${(thousand!.batched / one!.batched).toFixed(2)}×; every event matches one rule; durable (SQLite), one transaction per put`,
  );
}
