import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NimbusError } from "@nimbus/core";
import { type BuildContext, build, context, type Plugin } from "esbuild";
import { buildErrorLines } from "../../build/build-errors.ts";
import { nodeModuleBuild } from "../../build/node-module.ts";

const workerRuntime = fileURLToPath(
  new URL(import.meta.url.endsWith(".ts") ? "./worker.ts" : "./worker.js", import.meta.url),
);

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

// Bundled CommonJS dependencies may call require; give them one.
const banner = {
  js: 'import { createRequire as __nimbusCreateRequire } from "node:module"; const require = __nimbusCreateRequire(import.meta.url);',
};

/**
 * Builds the worker runtime (the part of every function's worker that talks to the
 * emulator) once, into `outDir`, and returns the file's path. Function bundles hold the
 * author's handler only: bundling the runtime into each one made every build parse the
 * runtime's dependencies again, and esbuild kept each function's copy for its rebuilds
 * (half a gigabyte for ten functions, and most of the start-up time).
 */
export async function buildWorkerRuntime(outDir: string): Promise<string> {
  const outfile = join(outDir, "_worker-runtime.mjs");
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [workerRuntime],
    ...nodeModuleBuild,
    metafile: false,
    outfile,
    conditions: ["nimbus-source"],
    banner,
    plugins: [storeWithoutSideEffects],
  });
  return outfile;
}

export interface Bundle {
  /** Path of the built module. Rewritten by each build; a running worker keeps the module it loaded. */
  file: string;
  /** Absolute paths of every local source file the bundle includes: what hot reload watches. */
  inputs: string[];
  ms: number;
}

/**
 * Bundles one function's handler with esbuild, incrementally: the first build prepares
 * a context, rebuilds reuse it. Source maps are inline, so stack traces point at the
 * author's `.ts` lines.
 */
export class FunctionBundler {
  readonly #name: string;
  readonly #entry: string;
  readonly #file: string;
  #context: Promise<BuildContext> | undefined;

  constructor(options: { name: string; entry: string; outDir: string }) {
    this.#name = options.name;
    this.#entry = options.entry;
    this.#file = join(options.outDir, `${options.name}.mjs`);
  }

  async build(): Promise<Bundle> {
    const started = performance.now();
    this.#context ??= mkdir(dirname(this.#file), { recursive: true }).then(() =>
      context({
        // The handler alone: the worker runtime is built once for all functions (`buildWorkerRuntime`)
        // and loaded before it, so console capture is in place before the author's module runs.
        entryPoints: [this.#entry],
        ...nodeModuleBuild,
        outfile: this.#file,
        conditions: ["nimbus-source"],
        // Bundled CommonJS dependencies may call require; give them one.
        banner,
      }),
    );
    try {
      const result = await (await this.#context).rebuild();
      const inputs = Object.keys(result.metafile?.inputs ?? {})
        .filter((input) => !input.includes("node_modules") && input !== "<stdin>" && resolve(input) !== workerRuntime)
        .map((input) => resolve(input));
      return { file: this.#file, inputs, ms: performance.now() - started };
    } catch (error) {
      throw buildError(this.#name, error);
    }
  }

  async dispose(): Promise<void> {
    const context = this.#context;
    this.#context = undefined;
    await (await context)?.dispose();
  }
}

/** esbuild's errors as one user error: `file:line:column: text` per problem. */
export function buildError(name: string, error: unknown): NimbusError {
  return new NimbusError(
    "NIMBUS_FUNCTION_BUILD",
    `function "${name}" does not build:\n  ${buildErrorLines(error).join("\n  ")}`,
    {
      cause: error,
    },
  );
}
