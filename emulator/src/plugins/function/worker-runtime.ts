import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm, stat } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, version as esbuildVersion, type Plugin } from "esbuild";
import { nodeModuleBuild, requireBanner } from "../../build/node-module.ts";
import { writeWhole } from "../../state/write-whole.ts";

/**
 * The worker runtime: the part of every function's worker that talks to the emulator,
 * one module for all functions, loaded before the author's handler bundle. It depends on
 * the emulator alone, never on the app, so it is built once per version of the emulator
 * rather than at every start: parsing its dependencies took esbuild about 300 ms, half
 * of a cold start.
 *
 * - A published emulator ships it, built by the package's build (`dist/…/worker-runtime.mjs`).
 * - Run from its sources (this repository), it is built on first use into
 *   `node_modules/.cache/nimbus/` of the emulator's package, and built again once a file
 *   it was built from changes (size or modification time).
 */
export async function workerRuntime(): Promise<string> {
  if (existsSync(shipped)) return shipped;
  return (await cached()) ?? (await buildCached());
}

/** Builds the shipped runtime into `outFile`: the package's build runs it on `dist`. */
export async function buildWorkerRuntime(outFile: string): Promise<void> {
  await build(runtimeBuild({ outfile: outFile }));
}

const fromSources = import.meta.url.endsWith(".ts");
const source = fileURLToPath(new URL(fromSources ? "./worker.ts" : "./worker.js", import.meta.url));
const shipped = fileURLToPath(new URL("./worker-runtime.mjs", import.meta.url));
/** The emulator package's folder: `src/plugins/function/` or `dist/plugins/function/` below it. */
const packageDir = resolve(dirname(source), "../../..");
const cacheDir = join(packageDir, "node_modules", ".cache", "nimbus");
const manifestFile = join(cacheDir, "worker-runtime.json");

/** This module and the build options it shares with the bundler. */
const buildFiles = [
  fileURLToPath(import.meta.url),
  fileURLToPath(new URL(`../../build/node-module.${fromSources ? "ts" : "js"}`, import.meta.url)),
];

/** What a cached build was made from, and where it is. */
interface Manifest {
  /** Absolute paths of every file the build read. */
  inputs: string[];
  /** A hash of their sizes and modification times, esbuild's version and Node's. */
  stamp: string;
  file: string;
}

/** The folder of `@nimbus/store`'s entry (its sources, or its built files when published). */
const storeDir = dirname(fileURLToPath(import.meta.resolve("@nimbus/store")));

/**
 * Marks the modules of `@nimbus/store` free of side effects, as they are: the worker
 * runtime uses its `BucketStore` only, and without the mark esbuild keeps every module the
 * package's index names (its S3 server, its NATS service with zod and the NATS client),
 * which made the runtime 4 MB rather than 0.4 MB, parsed and source-mapped by every worker.
 */
const storeWithoutSideEffects: Plugin = {
  name: "nimbus-store-side-effects",
  setup(build) {
    build.onResolve({ filter: /^(@nimbus\/store$|\.)/ }, async (args) => {
      if (args.pluginData === storeDir) return undefined;
      if (args.path !== "@nimbus/store" && !args.importer.startsWith(storeDir)) return undefined;
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: storeDir,
      });
      return resolved.errors.length === 0 && resolved.path.startsWith(storeDir)
        ? { ...resolved, sideEffects: false }
        : resolved;
    });
  },
};

function runtimeBuild(output: { outfile: string; write?: boolean }) {
  return {
    entryPoints: [source],
    ...nodeModuleBuild,
    ...output,
    // Resolved as this module was: from the packages' sources, or from their builds.
    conditions: fromSources ? ["nimbus-source"] : [],
    banner: requireBanner,
    plugins: [storeWithoutSideEffects],
    // Its frames map to the emulator's files, which are there to read: every worker holds
    // the map, and the sources inside it tripled the runtime's size.
    sourcesContent: false,
  };
}

async function stampOf(inputs: string[]): Promise<string | undefined> {
  // All at once: this runs at every start, over a few hundred files.
  const stats = await Promise.all(inputs.map((input) => stat(input).catch(() => undefined)));
  // The layout: caches of a layout without the build files among their inputs are not trusted.
  const hash = createHash("sha256").update(`layout 2 esbuild ${esbuildVersion} node ${process.version}\n`);
  for (const [index, input] of inputs.entries()) {
    const found = stats[index];
    if (!found) return undefined;
    hash.update(`${input} ${found.size} ${found.mtimeMs}\n`);
  }
  return hash.digest("hex").slice(0, 16);
}

/** The cached build, if nothing it was built from has changed since. */
async function cached(): Promise<string | undefined> {
  const manifest = await readFile(manifestFile, "utf8")
    .then((text) => JSON.parse(text) as Manifest)
    .catch(() => undefined);
  if (!manifest || !existsSync(manifest.file)) return undefined;
  return (await stampOf(manifest.inputs)) === manifest.stamp ? manifest.file : undefined;
}

/**
 * Builds into the cache. Every file is written whole (`writeWhole`), so processes
 * starting at once (test files in parallel) never read half a file. A built
 * file's name holds its stamp, so one a running emulator loads is never rewritten;
 * older ones are removed after a day.
 */
async function buildCached(): Promise<string> {
  const result = await build(runtimeBuild({ outfile: join(cacheDir, "worker-runtime.mjs"), write: false }));
  // The files that say how it is built count too: a change of build options builds it again.
  const inputs = [...Object.keys(result.metafile.inputs).map((input) => resolve(input)), ...buildFiles];
  const stamp = (await stampOf(inputs)) ?? "unstamped";
  const file = join(cacheDir, `worker-runtime-${stamp}.mjs`);
  await mkdir(cacheDir, { recursive: true });
  await writeWhole(file, result.outputFiles![0]!.contents);
  await writeWhole(manifestFile, JSON.stringify({ inputs, stamp, file } satisfies Manifest));
  await removeStale(file);
  return file;
}

async function removeStale(kept: string): Promise<void> {
  const dayAgo = Date.now() - 24 * 60 * 60 * 1000;
  for (const name of await readdir(cacheDir)) {
    const file = join(cacheDir, name);
    if (!name.startsWith("worker-runtime-") || file === kept) continue;
    const stats = await stat(file).catch(() => undefined);
    if (stats && stats.mtimeMs < dayAgo) await rm(file, { force: true });
  }
}
