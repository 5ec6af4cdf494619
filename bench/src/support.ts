/** What every benchmark shares: the bench folder, units, statistics, and copies of the bench apps. */
import { cp, mkdtemp, rm } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createEmulator, type Emulator } from "@nimbus/emulator";

export const benchDir = join(dirname(fileURLToPath(import.meta.url)), "..");
export const KiB = 1024;
export const MiB = 1024 * KiB;

/** The middle value (the upper one of an even count). */
export const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
export const mbPerSecond = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);
/** `12,345`: a rate or a count as the tables print it. */
export const formatCount = (value: number): string => Math.round(value).toLocaleString("en-US");

/** The small-object rows of the bucket and S3 benchmarks: put and get, one at a time and 16 in flight. */
export const smallObjectRows = [
  { op: "put", inFlight: 1 },
  { op: "put", inFlight: 16 },
  { op: "get", inFlight: 1 },
  { op: "get", inFlight: 16 },
] as const;

/**
 * How long the timed runs of a row are: each lasts about `seconds` going by the warm-up's
 * rate, but never fewer ops than `minCount` (and, when set, exactly `fixedCount`, which the
 * smoke pass uses so that its runs stay short).
 */
export interface TimedRuns {
  /** Ops of the untimed run before each row. */
  warmup: number;
  seconds: number;
  minCount: number;
  fixedCount?: number;
  /** Timed runs of each row; the median is reported. */
  runs: number;
}

/** The ops of one timed run, from the warm-up's rate in ops/s. */
export function timedCount(settings: TimedRuns, warmRate: number): number {
  return settings.fixedCount ?? Math.max(settings.minCount, Math.round(warmRate * settings.seconds));
}

/** Copies `bench/apps/<name>` (or `from`) to a fresh git-ignored `.tmp-<name>-*` folder beside it. */
export async function copyApp(
  name: string,
  from = join(benchDir, "apps", name),
): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(benchDir, `.tmp-${name}-`));
  await cp(from, dir, { recursive: true });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Runs `work` on an emulator (silent, not watching) of a copy of `bench/apps/<name>`, then closes and removes both. */
export async function withBenchEmulator<T>(name: string, work: (emu: Emulator) => Promise<T>): Promise<T> {
  const app = await copyApp(name);
  try {
    const emu = await createEmulator({ root: app.dir, watch: false, logFormat: "silent" });
    try {
      return await work(emu);
    } finally {
      await emu.close();
    }
  } finally {
    await app.remove();
  }
}

/** Calls a bench function's route with a JSON body and answers its JSON; a failure throws with what it said. */
export async function callJson<T>(emu: Emulator, path: string, body?: unknown, method = "POST"): Promise<T> {
  const response = await emu.fetch(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`The bench function failed on ${path} (${response.status}): ${text}`);
  return (text ? JSON.parse(text) : undefined) as T;
}
