/**
 * The queue issue's figures, beside Miniflare's queues from the same run: messages/s end
 * to end (send → consumer → ack) with single sends and with batches of 100, and the
 * latency from send to the start of the consumer's handler while the consumer is idle.
 * The messages are sent from inside a handler through the binding and counted inside the
 * consumer; Nimbus's are durable (SQLite), Miniflare's in memory.
 */
import type { SendResult, SendRun, SinkStats } from "../apps/queues/src/loops.ts";
import { miniflareBatchTimeout, startMiniflareQueues } from "./miniflare-queues.ts";
import { callJson, formatCount as count, median, withBenchEmulator } from "./support.ts";

export interface Settings {
  single: { count: number; warmup: number };
  batched: { count: number; warmup: number };
  batch: number;
  /** Timed runs of each throughput row; the median is reported. */
  runs: number;
  /** Messages sent one at a time, each handled before the next, for the latency. */
  latency: number;
}

export const full: Settings = {
  single: { count: 3_000, warmup: 1_000 },
  // Miniflare's broker fails a send (workerd's "Unknown Internal Error (15000)") once about
  // 10,000 messages wait, and it delivers none while a Worker request is still sending, so
  // a batched run stays well below that; more runs make up for their shortness.
  batched: { count: 5_000, warmup: 5_000 },
  batch: 100,
  runs: 5,
  latency: 300,
};
export const smoke: Settings = {
  single: { count: 100, warmup: 0 },
  batched: { count: 500, warmup: 0 },
  batch: 100,
  runs: 1,
  latency: 20,
};

/** One side of the comparison. */
export interface Side {
  reset(): Promise<void>;
  run(run: SendRun): Promise<SendResult>;
  /** Waits until the consumer has handled `count` messages since the reset; answers its stats. */
  handled(count: number): Promise<SinkStats>;
}

export interface Figures {
  single: number;
  batched: number;
  p50: number;
  p99: number;
}

/** messages/s from the first send until the consumer's handler finished the last message. */
async function throughput(side: Side, run: SendRun): Promise<number> {
  await side.reset();
  const sent = await side.run(run);
  const stats = await side.handled(run.count);
  if (stats.count !== run.count) throw new Error(`sent ${run.count} messages; the consumer handled ${stats.count}`);
  return (run.count / (stats.lastAt - sent.startedAt)) * 1000;
}

export async function measure(side: Side, settings: Settings): Promise<Figures> {
  const rates = async (count: number, warmup: number, batch: number) => {
    if (warmup > 0) await throughput(side, { count: warmup, batch });
    const samples: number[] = [];
    for (let i = 0; i < settings.runs; i++) samples.push(await throughput(side, { count, batch }));
    return median(samples);
  };
  const single = await rates(settings.single.count, settings.single.warmup, 1);
  const batched = await rates(settings.batched.count, settings.batched.warmup, settings.batch);
  await side.reset();
  for (let i = 1; i <= settings.latency; i++) {
    await side.run({ count: 1, batch: 1 });
    await side.handled(i);
  }
  const { latency } = await side.handled(settings.latency);
  return { single, batched, p50: latency.p50, p99: latency.p99 };
}

export async function measureNimbus(settings: Settings): Promise<Figures> {
  return withBenchEmulator("queues", (emu) =>
    measure(
      {
        reset: () => callJson(emu, "/reset"),
        run: (run) => callJson(emu, "/run", run),
        // The producer's sends have all been stored when its handler returns; idle() waits for their deliveries.
        async handled() {
          await emu.idle();
          return callJson<SinkStats>(emu, "/stats", undefined, "GET");
        },
      },
      settings,
    ),
  );
}

async function measureMiniflare(settings: Settings): Promise<Figures> {
  const mf = await startMiniflareQueues();
  try {
    return await measure(
      {
        reset: () => mf.call("/reset", {}),
        run: (run) => mf.call("/run", run),
        handled: (count) => mf.call("/wait", { count }),
      },
      settings,
    );
  } finally {
    await mf.dispose();
  }
}

const ms = (value: number, digits: number) => `${value.toFixed(digits)} ms`;

export async function benchQueues(options: { smoke: boolean }): Promise<void> {
  const settings = options.smoke ? smoke : full;
  const nimbus = await measureNimbus(settings);
  const miniflare = await measureMiniflare(settings);

  // A smoke pass's figures mean nothing, so it judges none of them.
  const judge = (met: boolean) => (met || options.smoke ? "" : "   MISSED");
  const line = (name: string, ours: string, theirs: string, ratio: string, goal: string) =>
    `   ${name.padEnd(22)}${ours.padStart(12)}${theirs.padStart(12)}${ratio.padStart(9)}   ${goal}`;
  // Ours over theirs; for latencies Miniflare's can read 0 ms at its resolution.
  const ratio = (ours: number, theirs: number) => (theirs > 0 ? `${(ours / theirs).toFixed(1)}×` : "—");
  const runs = settings.runs > 1 ? `median of ${settings.runs} runs after a warm-up` : "1 run";
  console.log(
    `\n## Queues: send → consumer → ack, sent and counted inside handlers (messages/s: ${runs}; latency: ${settings.latency} messages one at a time, consumer idle)`,
  );
  console.log(`   ${"".padEnd(22)}${"nimbus".padStart(12)}${"miniflare".padStart(12)}${"ratio".padStart(9)}   goal`);
  console.log(
    line(
      `single sends ×${count(settings.single.count)}`,
      `${count(nimbus.single)}/s`,
      `${count(miniflare.single)}/s`,
      ratio(nimbus.single, miniflare.single),
      `≥ 5,000/s${judge(nimbus.single >= 5_000)}`,
    ),
  );
  console.log(
    line(
      `batches of ${settings.batch} ×${count(settings.batched.count)}`,
      `${count(nimbus.batched)}/s`,
      `${count(miniflare.batched)}/s`,
      ratio(nimbus.batched, miniflare.batched),
      `≥ 20,000/s${judge(nimbus.batched >= 20_000)}`,
    ),
  );
  console.log(
    line(
      "p50 send → handler",
      ms(nimbus.p50, 2),
      ms(miniflare.p50, 0),
      ratio(nimbus.p50, miniflare.p50),
      `< 5 ms${judge(nimbus.p50 < 5)}`,
    ),
  );
  console.log(
    line("p99 send → handler", ms(nimbus.p99, 2), ms(miniflare.p99, 0), ratio(nimbus.p99, miniflare.p99), "—"),
  );
  console.log(
    `   nimbus: durable (SQLite), consumer batchSize 100, maxBatchWait 0s, concurrency 1; latency clock performance.timeOrigin + now() (sub-ms)`,
  );
  console.log(
    `   miniflare: in memory, maxBatchSize 100, maxBatchTimeout ${miniflareBatchTimeout} s (its smallest: a partial batch is held ${miniflareBatchTimeout} s; its default holds it 1 s); latency clock Date.now() in workerd (whole ms)`,
  );
}
