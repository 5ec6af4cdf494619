import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { type Graph, NimbusError, resourcesOf } from "@nimbus/core";
import { emitProject, hostLayout } from "@nimbus/deploy-docker";
import { build as esbuild } from "esbuild";
import type { Output } from "../output.ts";
import { build } from "./build.ts";

/** `--target`'s value, checked: docker, or a clear error for a target that does not exist yet. */
export function parseTarget(value: unknown): "docker" {
  const target = value === undefined ? "docker" : String(value);
  if (target === "docker") return target;
  if (target === "kubernetes") {
    throw new NimbusError(
      "NIMBUS_CLI_TARGET",
      "The kubernetes target is not built yet; only --target docker exists. Deploy on one Docker host for now (nimbus synth --target docker).",
    );
  }
  throw new NimbusError("NIMBUS_CLI_TARGET", `Unknown target "${target}"; expected --target docker.`);
}

/** Where `nimbus synth` writes by default, and where `nimbus deploy` keeps its project and stack settings. */
export const defaultProjectDir = (dir: string): string => join(resolve(dir), ".nimbus", "deploy", "docker");

export interface SynthOptions {
  /** The folder holding nimbus.app.ts. */
  dir: string;
  /**
   * The project's folder.
   * @default "<dir>/.nimbus/deploy/docker"
   */
  out?: string;
}

export interface SynthResult {
  /** Absolute path of the project's folder. */
  out: string;
  graph: Graph;
  /** Every file emitted, relative to `out`. */
  files: string[];
}

/**
 * Synthesizes the app into a standalone Pulumi project for the Docker target: the
 * functions bundled by `nimbus build`, the runtime host and the store service bundled into
 * one file each, and `emitProject`'s files around them. The same sources give the same bytes.
 */
export async function synth(options: SynthOptions): Promise<SynthResult> {
  const out = resolve(options.out ?? defaultProjectDir(options.dir));
  // Bundles are built apart and copied in: the project holds each function's module only.
  const scratch = await mkdtemp(join(tmpdir(), "nimbus-synth-"));
  try {
    const built = await build({ dir: options.dir, out: scratch });
    const bundles: Record<string, Uint8Array> = {};
    for (const fn of resourcesOf(built.graph, "function")) {
      bundles[fn.name] = await readFile(join(scratch, "functions", `${fn.name}.mjs`));
    }
    const hostFiles = await buildHost();
    const { files } = emitProject({ graph: built.graph, bundles, hostFiles, out });
    return { out, graph: built.graph, files };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** `nimbus synth [dir] --target docker --out <folder>`. */
export async function synthCommand(args: { dir: string; target?: unknown; out?: string }, output: Output) {
  parseTarget(args.target);
  const result = await synth({ dir: args.dir, out: args.out });
  output.out(
    `Synthesized "${result.graph.app}" for the docker target into ${result.out} (${result.files.length} files).\n` +
      `Deploy it with: cd ${result.out} && npm install && pulumi stack init dev && pulumi config set --secret nimbus:credentialSeed $(openssl rand -hex 32) && pulumi up`,
  );
}

/**
 * The runtime host and the store service, each bundled with every dependency inlined, so
 * the base image needs Node and these files only: an entry (`main.js`) and the chunks it
 * imports, split at the dynamic imports. So a host evaluates only what its role and links
 * use: a function's host that links no bucket and no schema never loads the AWS SDK or
 * zod (bench/src/host.ts measures its memory at rest). Their entries are found beside the
 * packages' resolved entries: `src/*.ts` in this workspace (the `nimbus-source`
 * condition), `dist/*.js` when installed.
 */
export async function buildHost(): Promise<Map<string, Uint8Array>> {
  const beside = (specifier: string, path: string) => {
    const entry = fileURLToPath(import.meta.resolve(specifier));
    return join(dirname(entry), `${path}${entry.endsWith(".ts") ? ".ts" : ".js"}`);
  };
  const entries = {
    host: beside("@nimbus/runtime/host", "main"),
    store: beside("@nimbus/store", "service/main"),
  };
  const files = new Map<string, Uint8Array>();
  for (const [role, entry] of Object.entries(entries) as [keyof typeof hostLayout, string][]) {
    const folder = dirname(hostLayout[role]);
    // Nothing is written: the output paths only place the chunks beside their entry.
    const outdir = join(dirname(entry), ".nimbus-host");
    try {
      const result = await esbuild({
        entryPoints: { main: entry },
        bundle: true,
        splitting: true,
        platform: "node",
        format: "esm",
        target: "node22",
        conditions: ["nimbus-source"],
        logLevel: "silent",
        // Paths in the bundle's comments are relative to its package, not to where the CLI runs.
        absWorkingDir: dirname(entry),
        outdir,
        chunkNames: "chunk-[hash]",
        write: false,
        // Bundled CommonJS dependencies (the AWS SDK) may call require; give them one.
        banner: {
          js: 'import { createRequire as __nimbusCreateRequire } from "node:module"; const require = __nimbusCreateRequire(import.meta.url);',
        },
      });
      for (const file of result.outputFiles) {
        files.set(join(folder, relative(outdir, file.path)).split(sep).join("/"), file.contents);
      }
    } catch (error) {
      throw new NimbusError(
        "NIMBUS_FUNCTION_BUILD",
        `The deployed ${role} (${entry}) does not build: ${(error as Error).message}`,
        { cause: error, kind: "system" },
      );
    }
  }
  return files;
}
