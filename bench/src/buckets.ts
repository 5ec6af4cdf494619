/**
 * The bucket issue's figures, each beside Miniflare's R2 binding from the same run: put
 * and get ops/s of 1 KiB objects (one at a time and 16 in flight) and MB/s of one large
 * object streamed each way, all timed inside a handler through the binding; the large
 * object also beside a plain file copy on the same disk, with the memory the handler's
 * process gains while streaming.
 */
import { createReadStream, createWriteStream } from "node:fs";
import { copyFile, mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { startMiniflareR2 } from "./miniflare-r2.ts";
import { treeRss } from "./process-tree.ts";
import {
  callJson,
  formatCount as count,
  KiB,
  MiB,
  mbPerSecond,
  median,
  smallObjectRows,
  type TimedRuns,
  timedCount,
  withBenchEmulator,
} from "./support.ts";

interface Settings extends TimedRuns {
  /** Distinct keys the small loops cycle through; gets read what the seeding puts wrote. */
  keys: number;
  largeSize: number;
  largeWarmup: number;
  /** Nimbus's large runs, each after a round of file copies; they take about 2 s a round. */
  largeRuns: number;
  /** Miniflare's, which take about 12 s each. */
  miniflareLargeRuns: number;
}

const full: Settings = {
  keys: 1000,
  warmup: 300,
  seconds: 2,
  minCount: 500,
  runs: 3,
  largeSize: 256 * MiB,
  largeWarmup: 64 * MiB,
  largeRuns: 5,
  miniflareLargeRuns: 3,
};
const smoke: Settings = {
  keys: 50,
  warmup: 10,
  seconds: 0,
  minCount: 50,
  fixedCount: 50,
  runs: 1,
  largeSize: 4 * MiB,
  largeWarmup: 0,
  largeRuns: 1,
  miniflareLargeRuns: 1,
};
const chunk = MiB;
const smallSize = KiB;

interface SmallResult {
  ops: number;
  ms: number;
  opsPerSecond: number;
}
interface Growth {
  rss: number;
  arrayBuffers: number;
}
interface LargeResult {
  bytes: number;
  putMs: number;
  getMs: number;
  /** Peak growth over the start, sampled in the handler's process at every chunk (Nimbus only). */
  memoryGrowth?: { put: Growth; get: Growth };
}

/** One side of the comparison: POSTs JSON to its handler and answers the handler's JSON. */
type Call = <T>(path: string, body: unknown) => Promise<T>;

const rows = smallObjectRows;

interface Figures {
  /** ops/s per row of `rows`, median of the runs. */
  small: number[];
  /** MB/s, median of the runs. */
  put: number;
  get: number;
  /** The largest growth over the runs, in bytes: in the handler (Nimbus) or of workerd, seen from outside (Miniflare). */
  memory?: { put: Growth; get: Growth } | { rss: number };
}

async function measureSmall(call: Call, settings: Settings): Promise<number[]> {
  // Writes every key once, so gets find them all; doubles as the first warm-up.
  await call("/run", { op: "put", count: settings.keys, inFlight: 16, size: smallSize, keys: settings.keys });
  const figures: number[] = [];
  for (const { op, inFlight } of rows) {
    const run = { op, inFlight, size: smallSize, keys: settings.keys };
    const warm = await call<SmallResult>("/run", { ...run, count: settings.warmup });
    const ops = timedCount(settings, warm.opsPerSecond);
    const samples: number[] = [];
    for (let i = 0; i < settings.runs; i++)
      samples.push((await call<SmallResult>("/run", { ...run, count: ops })).opsPerSecond);
    figures.push(median(samples));
  }
  return figures;
}

/** Each run: `beside()` first (the file copies, so both see the disk in the same state), then the large put and get. */
async function measureLarge(
  call: Call,
  settings: Settings,
  runs: number,
  options: { beside?: () => Promise<void>; sampleOutside?: () => Promise<number> } = {},
): Promise<Omit<Figures, "small">> {
  if (settings.largeWarmup > 0) await call("/large", { size: settings.largeWarmup, chunk });
  const puts: number[] = [];
  const gets: number[] = [];
  const inside = { put: { rss: 0, arrayBuffers: 0 }, get: { rss: 0, arrayBuffers: 0 } };
  let outside: number | undefined;
  for (let i = 0; i < runs; i++) {
    await options.beside?.();
    const watch = options.sampleOutside && (await watchPeak(options.sampleOutside));
    const result = await call<LargeResult>("/large", { size: settings.largeSize, chunk });
    if (watch) outside = Math.max(outside ?? 0, await watch.stop());
    puts.push(mbPerSecond(result.bytes, result.putMs));
    gets.push(mbPerSecond(result.bytes, result.getMs));
    for (const direction of ["put", "get"] as const) {
      const growth = result.memoryGrowth?.[direction];
      if (!growth) continue;
      inside[direction].rss = Math.max(inside[direction].rss, growth.rss);
      inside[direction].arrayBuffers = Math.max(inside[direction].arrayBuffers, growth.arrayBuffers);
    }
  }
  const memory = outside !== undefined ? { rss: outside } : options.sampleOutside ? undefined : inside;
  return { put: median(puts), get: median(gets), memory };
}

/** Samples `read` every 20 ms until stopped; answers the peak over the first sample. */
async function watchPeak(read: () => Promise<number>): Promise<{ stop: () => Promise<number> }> {
  const start = await read();
  let peak = start;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await read());
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return peak - start;
    },
  };
}

/**
 * The plain copies the large object is held against, in `dir` (the emulator's state
 * folder, so the same disk): `fs.copyFile` (copy_file_range on Linux, no bytes through
 * user space) and a read stream piped into a write stream with 1 MiB chunks, as the
 * benchmark's put streams them.
 */
function fileCopies(dir: string, size: number) {
  const source = join(dir, "source.bin");
  const target = join(dir, "target.bin");
  const copyFileMs: number[] = [];
  const streamMs: number[] = [];
  const timed = async (copy: () => Promise<void>) => {
    await rm(target, { force: true });
    const started = performance.now();
    await copy();
    const ms = performance.now() - started;
    await rm(target, { force: true });
    return ms;
  };
  return {
    async prepare() {
      await mkdir(dir, { recursive: true });
      const piece = Buffer.alloc(chunk, 7);
      async function* pieces() {
        for (let written = 0; written < size; written += chunk)
          yield piece.subarray(0, Math.min(chunk, size - written));
      }
      await pipeline(pieces(), createWriteStream(source));
    },
    async run() {
      copyFileMs.push(await timed(() => copyFile(source, target)));
      streamMs.push(
        await timed(() =>
          pipeline(
            createReadStream(source, { highWaterMark: chunk }),
            createWriteStream(target, { highWaterMark: chunk }),
          ),
        ),
      );
    },
    figures: () => ({ copyFile: mbPerSecond(size, median(copyFileMs)), stream: mbPerSecond(size, median(streamMs)) }),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

async function measureNimbus(settings: Settings) {
  return withBenchEmulator("buckets", async (emu) => {
    const copies = fileCopies(join(emu.state, "copy-baseline"), settings.largeSize);
    try {
      const call: Call = (path, body) => callJson(emu, path, body);
      const small = await measureSmall(call, settings);
      await copies.prepare();
      const large = await measureLarge(call, settings, settings.largeRuns, { beside: () => copies.run() });
      return { nimbus: { small, ...large } satisfies Figures, copy: copies.figures() };
    } finally {
      await copies.remove();
    }
  });
}

async function measureMiniflare(settings: Settings): Promise<Figures> {
  const persist = await mkdtemp(join(tmpdir(), "nimbus-bench-r2-"));
  const mf = await startMiniflareR2(persist);
  try {
    const call: Call = (path, body) => mf.call(path, body);
    const small = await measureSmall(call, settings);
    const onLinux = await readdir("/proc").then(
      () => true,
      () => false,
    );
    const large = await measureLarge(call, settings, settings.miniflareLargeRuns, {
      sampleOutside: onLinux ? () => treeRss(process.pid, { descendantsOnly: true }) : undefined,
    });
    return { small, ...large };
  } finally {
    await mf.dispose();
    await rm(persist, { recursive: true, force: true });
  }
}

const mb = (bytes: number) => `${(bytes / 1e6).toFixed(0)} MB`;

export async function benchBuckets(options: { smoke: boolean }): Promise<void> {
  const settings = options.smoke ? smoke : full;
  const { nimbus, copy } = await measureNimbus(settings);
  const miniflare = await measureMiniflare(settings);

  // A smoke pass's figures mean nothing, so it judges none of them.
  const judge = (met: boolean) => (met || options.smoke ? "" : "   MISSED");
  const large = `${settings.largeSize / MiB} MiB`;
  const line = (name: string, ours: string, theirs: string, ratio: number, goal: string) =>
    `   ${name.padEnd(16)}${ours.padStart(12)}${theirs.padStart(15)}${`${ratio.toFixed(1)}×`.padStart(9)}   ${goal}`;
  const runs = settings.runs > 1 ? `median of ${settings.runs} runs of ~${settings.seconds} s` : "1 run";
  console.log(
    `\n## Buckets: through the binding, timed inside a handler (ops/s: ${runs} each; MB/s: median of ${settings.largeRuns} nimbus, ${settings.miniflareLargeRuns} Miniflare runs)`,
  );
  console.log(`   ${"".padEnd(16)}${"nimbus".padStart(12)}${"miniflare R2".padStart(15)}${"ratio".padStart(9)}   goal`);
  for (const [index, { op, inFlight }] of rows.entries()) {
    const goal = op === "put" ? 5_000 : 20_000;
    const ours = nimbus.small[index]!;
    const theirs = miniflare.small[index]!;
    const name = `${op} 1 KiB ×${inFlight}`;
    console.log(
      line(name, `${count(ours)}/s`, `${count(theirs)}/s`, ours / theirs, `≥ ${count(goal)}/s${judge(ours >= goal)}`),
    );
  }
  for (const direction of ["put", "get"] as const) {
    const ours = nimbus[direction];
    const theirs = miniflare[direction];
    const toCopyFile = ours / copy.copyFile;
    const toStream = ours / copy.stream;
    // Held to fs.copyFile, the plain copy `cp` makes; the streamed copy is shown beside it.
    const goal = `≥ ½ a file copy: ${toCopyFile.toFixed(2)}× copyFile, ${toStream.toFixed(2)}× stream copy${judge(toCopyFile >= 0.5)}`;
    console.log(line(`${direction} ${large}`, `${count(ours)} MB/s`, `${count(theirs)} MB/s`, ours / theirs, goal));
  }
  console.log(
    `   file copy of ${large} on the state folder's disk (median of ${settings.largeRuns}): fs.copyFile ${count(copy.copyFile)} MB/s, read stream → write stream (1 MiB chunks) ${count(copy.stream)} MB/s`,
  );
  // Flat: what the process gains stays well below the object streamed, however large the
  // object. A quarter of it is the line drawn here: the get's chunks are garbage once read,
  // and V8 collects them only once about 64 MiB of them are waiting.
  const flat = settings.largeSize / 4;
  if (nimbus.memory && "put" in nimbus.memory) {
    const { put, get } = nimbus.memory;
    const worst = Math.max(put.rss, get.rss);
    console.log(
      `   memory while streaming ${large}, nimbus (in the handler, every chunk; peak over the start): put RSS +${mb(put.rss)} (arrayBuffers +${mb(put.arrayBuffers)}), get RSS +${mb(get.rss)} (arrayBuffers +${mb(get.arrayBuffers)})   goal flat (< +${mb(flat)})${judge(worst < flat)}`,
    );
  }
  if (miniflare.memory && "rss" in miniflare.memory) {
    console.log(
      `   memory while streaming ${large}, Miniflare (workerd's RSS every 20 ms, from outside): peak +${mb(miniflare.memory.rss)}`,
    );
  }
}
