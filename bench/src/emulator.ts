/**
 * Issue #4's figures, each beside its baseline from the same run: cold and warm start of
 * `nimbus dev` (Miniflare 4's start beside it), hot reload (Miniflare's option reload
 * beside it), hello-world throughput (raw @hono/node-server beside it, Miniflare too)
 * and the memory of the emulator's process tree with ten functions loaded.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { join } from "node:path";
import { createEmulator } from "@nimbus/emulator";
import autocannon from "autocannon";
import { Miniflare } from "miniflare";
import { treeRss } from "./process-tree.ts";
import { benchDir, copyApp, median } from "./support.ts";

const repoRoot = join(benchDir, "..");
const node = process.execPath;
/** Where the emulator, run from its sources, keeps the worker runtime it built (emulator/src/plugins/function/worker-runtime.ts). */
const workerRuntimeCache = join(repoRoot, "emulator/node_modules/.cache/nimbus");
/** Node's arguments for `nimbus`, as `./pnpm nimbus` passes them: the root package's script, split into words. */
const nimbusArgs = (JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8")).scripts.nimbus as string)
  .split(" ")
  .slice(1)
  .map((word) => (word.endsWith(".ts") ? join(repoRoot, word) : word));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Stops a server and everything it started: `./pnpm` runs the CLI in a shell of its own, which SIGTERM to pnpm alone would orphan. */
function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const group = (signal: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, signal);
    } catch {
      // already gone
    }
  };
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    group("SIGTERM");
    setTimeout(() => group("SIGKILL"), 5_000).unref();
  });
}

/** Spawns a server and measures process start to its first response on `url` (`ok` only, unless `anyStatus`). */
async function timeToFirstResponse(
  command: string,
  args: string[],
  url: string,
  options: { env?: NodeJS.ProcessEnv; anyStatus?: boolean } = {},
): Promise<{ ms: number; status: number; child: ChildProcess }> {
  const started = performance.now();
  const child = spawn(command, args, {
    env: { ...process.env, ...options.env },
    stdio: ["ignore", "ignore", "pipe"],
    // Its own process group, so `stop` reaches the processes it starts too.
    detached: true,
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command} ${args.join(" ")} exited early:\n${stderr}`);
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.ok || options.anyStatus) return { ms: performance.now() - started, status: response.status, child };
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
};
const ms = (value: number) => `${value.toFixed(0).padStart(6)} ms`;

async function benchStart(runs: number): Promise<void> {
  const app = await copyApp("hello");
  const shop = await copyApp("shop", join(repoRoot, "examples/shop"));
  try {
    // cold: .nimbus deleted, so every bundle is built anew. firstEver: as on a new machine, Node's
    // compile cache is off and the emulator's cached worker runtime is gone (it is built again).
    const sample = async (
      dir: string,
      path: string,
      options: { cold: boolean; viaPnpm?: boolean; anyStatus?: boolean; firstEver?: boolean },
    ) => {
      if (options.cold) await rm(join(dir, ".nimbus"), { recursive: true, force: true });
      if (options.firstEver) await rm(workerRuntimeCache, { recursive: true, force: true });
      const port = await freePort();
      const [command, args] =
        (options.viaPnpm ?? true)
          ? [join(repoRoot, "pnpm"), ["--silent", "nimbus", "dev", dir, "--s3-port", "0", "--port", String(port)]]
          : [node, [...nimbusArgs, "dev", dir, "--s3-port", "0", "--port", String(port)]];
      const env = options.firstEver ? { NODE_DISABLE_COMPILE_CACHE: "1" } : {};
      const result = await timeToFirstResponse(command, args, `http://127.0.0.1:${port}${path}`, {
        env,
        anyStatus: options.anyStatus,
      });
      await stop(result.child);
      return result;
    };
    const measure = async (make: () => Promise<{ ms: number; status: number }>) => {
      const samples: number[] = [];
      let status = 0;
      for (let i = 0; i < runs; i++) {
        const result = await make();
        samples.push(result.ms);
        status = result.status;
      }
      return { ms: median(samples), status };
    };
    const miniflare = await measure(async () => {
      const port = await freePort();
      const script = join(benchDir, "src/miniflare-hello.ts");
      const result = await timeToFirstResponse(node, [script, String(port)], `http://127.0.0.1:${port}/`);
      await stop(result.child);
      return result;
    });
    const cold = await measure(() => sample(app.dir, "/hello", { cold: true }));
    const warm = await measure(() => sample(app.dir, "/hello", { cold: false }));
    const direct = await measure(() => sample(app.dir, "/hello", { cold: true, viaPnpm: false }));
    const firstEver = await measure(() => sample(app.dir, "/hello", { cold: true, firstEver: true }));
    const shopCold = await measure(() => sample(shop.dir, "/orders/1", { cold: true, anyStatus: true }));
    const vsMiniflare = `${(cold.ms / miniflare.ms).toFixed(2)}× Miniflare`;
    console.log(`\n## Start: process start to first response (median of ${runs})`);
    console.log(`   Miniflare 4, hello world (baseline)            ${ms(miniflare.ms)}`);
    console.log(`   ./pnpm nimbus dev, 10 functions, cold           ${ms(cold.ms)}   goal < 800 ms; ${vsMiniflare}`);
    console.log(`   ./pnpm nimbus dev, 10 functions, warm           ${ms(warm.ms)}   (.nimbus kept)`);
    console.log(`   node bin.ts dev (no package manager), cold      ${ms(direct.ms)}`);
    console.log(
      `   ./pnpm nimbus dev, cold, no caches              ${ms(firstEver.ms)}   (a first run on a new machine: no compile cache, worker runtime built)`,
    );
    console.log(
      `   ./pnpm nimbus dev examples/shop, cold           ${ms(shopCold.ms)}   (first response: ${shopCold.status})`,
    );
  } finally {
    await app.remove();
    await shop.remove();
  }
}

async function benchReload(edits: number): Promise<void> {
  const app = await copyApp("hello");
  const file = join(app.dir, "src/hello.ts");
  const source = await readFile(file, "utf8");
  const emu = await createEmulator({ root: app.dir });
  const mfScript = (marker: string) => `export default { fetch() { return new Response("hello ${marker}"); } }`;
  const mf = new Miniflare({ modules: true, script: mfScript("v0"), port: 0 });
  try {
    const waitFor = async (fetchText: () => Promise<string>, marker: string) => {
      // Polled every 2 ms: hammering the server would slow the reload being measured.
      while (!(await fetchText()).includes(marker)) await new Promise((resolve) => setTimeout(resolve, 2));
    };
    const ours: number[] = [];
    const pause = () => new Promise((resolve) => setTimeout(resolve, 300));
    for (let i = 1; i <= edits; i++) {
      // A person saves every few seconds at most; 0.3 s apart is already fast.
      await pause();
      const marker = `v${i}`;
      const started = performance.now();
      await writeFile(file, source.replace('const marker = "v0";', `const marker = "${marker}";`));
      await waitFor(async () => (await emu.fetch("/hello")).text(), marker);
      ours.push(performance.now() - started);
    }
    const mfUrl = await mf.ready;
    const theirs: number[] = [];
    for (let i = 1; i <= edits; i++) {
      await pause();
      const marker = `v${i}`;
      const started = performance.now();
      await mf.setOptions({ modules: true, script: mfScript(marker), port: Number(mfUrl.port) });
      await waitFor(async () => (await fetch(mfUrl)).text(), marker);
      theirs.push(performance.now() - started);
    }
    console.log(`\n## Hot reload: file write to first response with the new code (${edits} edits, 0.3 s apart)`);
    console.log(
      `   Miniflare 4 setOptions (baseline)   p50 ${ms(percentile(theirs, 50))}   p95 ${ms(percentile(theirs, 95))}`,
    );
    console.log(
      `   nimbus emulator                     p50 ${ms(percentile(ours, 50))}   p95 ${ms(percentile(ours, 95))}   goal p50 < 100 ms`,
    );
  } finally {
    await emu.close();
    await mf.dispose();
    await app.remove();
  }
}

/** The hello-world load: autocannon, 50 connections, `seconds` long. */
export async function load(url: string, seconds: number) {
  const result = await autocannon({ url, connections: 50, duration: seconds });
  return { rps: result.requests.average, p99: result.latency.p99, errors: result.errors + result.non2xx };
}

type Load = Awaited<ReturnType<typeof load>>;

/**
 * Loads each server in turn, round after round, so that a change in the machine's speed
 * during the run (this one's swings by half within minutes) falls on every server alike
 * rather than on whichever ran at that moment. The first round warms up each server and
 * is not counted.
 */
async function alternate(urls: readonly string[], rounds: number, seconds: number): Promise<Load[][]> {
  const results: Load[][] = urls.map(() => []);
  for (let round = 0; round <= rounds; round++) {
    for (const [i, url] of urls.entries()) {
      const result = await load(url, round === 0 ? 1 : seconds);
      if (round > 0) results[i]!.push(result);
    }
  }
  return results;
}

async function benchThroughput(rounds: number, seconds: number): Promise<void> {
  const app = await copyApp("hello");
  const started: ChildProcess[] = [];
  try {
    const startServer = async (args: string[], path: string) => {
      const port = await freePort();
      const { child } = await timeToFirstResponse(node, [...args, String(port)], `http://127.0.0.1:${port}${path}`);
      started.push(child);
      return { child, url: `http://127.0.0.1:${port}${path}` };
    };
    const raw = await startServer([join(benchDir, "src/raw-hono.ts")], "/hello");
    const mf = await startServer([join(benchDir, "src/miniflare-hello.ts")], "/");
    const nimbus = await startServer(
      [...nimbusArgs, "dev", app.dir, "--log-format", "json", "--s3-port", "0", "--port"],
      "/hello",
    );
    // Every function answers once, so all ten workers are loaded when memory is read.
    const base = new URL(nimbus.url).origin;
    for (let i = 1; i < 10; i++) await (await fetch(`${base}/fn-${i}`)).arrayBuffer();
    // At rest: `nimbus dev` stops esbuild's service 2 s after the last build.
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    const idleRss = (await treeRss(nimbus.child.pid!)) / 1024 / 1024;
    // The emulator last in each round: memory "right after the load" is read after its own.
    const [rawRounds, mfRounds, ourRounds] = await alternate([raw.url, mf.url, nimbus.url], rounds, seconds);
    const loadedRss = (await treeRss(nimbus.child.pid!)) / 1024 / 1024;
    // Each thread collects what the load left once it has been quiet for a check or two (2 s apart).
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    const restedRss = (await treeRss(nimbus.child.pid!)) / 1024 / 1024;
    await stop(nimbus.child);

    const mean = (loads: Load[], key: "rps" | "p99") => loads.reduce((sum, l) => sum + l[key], 0) / loads.length;
    const spread = (values: number[], format: (n: number) => string) =>
      values.length > 1 ? `  (rounds ${format(Math.min(...values))}–${format(Math.max(...values))})` : "";
    const kilo = (n: number) => `${(n / 1000).toFixed(1)}k`;
    const row = (name: string, loads: Load[]) => {
      const errors = loads.reduce((sum, l) => sum + l.errors, 0);
      const p99 = Math.max(...loads.map((l) => l.p99));
      return `   ${name.padEnd(36)} ${mean(loads, "rps").toFixed(0).padStart(7)} req/s   p99 ≤ ${String(p99).padStart(3)} ms${errors ? `   (${errors} errors/non-2xx)` : ""}${spread(
        loads.map((l) => l.rps),
        kilo,
      )}`;
    };
    const share = mean(ourRounds!, "rps") / mean(rawRounds!, "rps");
    const perRound = ourRounds!.map((ours, i) => ours.rps / rawRounds![i]!.rps);
    const percent = (n: number) => `${(n * 100).toFixed(0)}%`;
    console.log(
      `\n## Throughput: hello world, 50 connections, ${rounds} round${rounds > 1 ? "s" : ""} of ${seconds} s on each server in turn (autocannon)`,
    );
    console.log(row("raw @hono/node-server (baseline)", rawRounds!));
    console.log(row("Miniflare 4", mfRounds!));
    console.log(row("nimbus emulator", ourRounds!));
    console.log(
      `   nimbus emulator, share of raw        ${percent(share).padStart(7)}${spread(perRound, percent)}   goal ≥ 60%, p99 < 20 ms`,
    );
    console.log("\n## Memory: the emulator's process tree, 10 functions loaded");
    const mb = (mib: number) => ((mib * 1_048_576) / 1e6).toFixed(0);
    console.log(`   all loaded, at rest ${idleRss.toFixed(0).padStart(5)} MiB = ${mb(idleRss)} MB   goal < 300 MB`);
    console.log(`   right after the load ${loadedRss.toFixed(0).padStart(4)} MiB = ${mb(loadedRss)} MB`);
    console.log(`   5 s after the load  ${restedRss.toFixed(0).padStart(5)} MiB = ${mb(restedRss)} MB   goal < 300 MB`);
  } finally {
    await Promise.all(started.map(stop));
    await app.remove();
  }
}

export async function benchEmulator(options: { smoke: boolean }): Promise<void> {
  await benchStart(options.smoke ? 1 : 5);
  await benchReload(options.smoke ? 3 : 20);
  await benchThroughput(options.smoke ? 1 : 5, options.smoke ? 1 : 2);
}
