import { mkdir } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { NimbusError } from "@nimbus/core";
import { type BuildContext, context } from "esbuild";
import { buildErrorLines } from "../../build/build-errors.ts";
import { nodeModuleBuild, requireBanner } from "../../build/node-module.ts";

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
        banner: requireBanner,
      }),
    );
    try {
      const result = await (await this.#context).rebuild();
      const inputs = Object.keys(result.metafile?.inputs ?? {})
        .filter((input) => !input.includes("node_modules") && input !== "<stdin>")
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
