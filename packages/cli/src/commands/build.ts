import { createHash } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join, relative, resolve, sep } from "node:path";
import { type Graph, NimbusError, resourcesOf, serializeGraph } from "@nimbus/core";
import { loadApp } from "@nimbus/emulator";
import { type BuildOptions as EsbuildOptions, build as esbuild } from "esbuild";
import type { Output } from "../output.ts";

/** One file of a build, as `manifest.json` lists it. */
export interface BuiltFile {
  /** Relative to the output folder, with `/`: `graph.json`, `functions/api.mjs`. */
  path: string;
  /** Hex SHA-256 of its bytes. */
  sha256: string;
  bytes: number;
}

export interface BuildOptions {
  /** The folder holding nimbus.app.ts. */
  dir: string;
  /**
   * Where the build goes; its `functions/` folder, `graph.json` and `manifest.json` are replaced.
   * @default "<dir>/.nimbus/dist"
   * @example "dist"
   */
  out?: string;
}

export interface BuildResult {
  /** Absolute path of the output folder. */
  out: string;
  graph: Graph;
  /** Every file written, sorted by path (the manifest's list). */
  files: BuiltFile[];
}

/** The manifest's format; bumped when its shape changes. */
const manifestVersion = 1;

/**
 * How a handler is bundled for the deployed host: one ES module for Node 22 with its
 * source map beside it, every import inlined. `@nimbus/*` resolve through the
 * `nimbus-source` condition, as in the emulator's bundler, so the workspace's sources
 * are bundled without a `dist/`. The emulator's bundler wraps each handler in its worker
 * runtime and keeps an incremental context; here a handler is its own entry (the host
 * imports its default export), built once, so only these options are alike.
 */
const handlerBuild: EsbuildOptions = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  sourcemap: "linked",
  conditions: ["nimbus-source"],
  logLevel: "silent",
  // Bundled CommonJS dependencies may call require; give them one.
  banner: {
    js: 'import { createRequire as __nimbusCreateRequire } from "node:module"; const require = __nimbusCreateRequire(import.meta.url);',
  },
};

/**
 * Builds an app for the deployed host: `graph.json` (the validated graph, as `nimbus
 * graph` prints it), `functions/<fn>.mjs` (+ `.map`) per function, and `manifest.json`
 * listing each file with its SHA-256. The same sources give the same bytes: paths in the
 * output are relative to the app folder and nothing records when or where it was built.
 */
export async function build(options: BuildOptions): Promise<BuildResult> {
  const app = await loadApp(options.dir);
  const out = resolve(options.out ?? join(app.dir, ".nimbus", "dist"));
  const functionsDir = join(out, "functions");
  // A function removed from the app must not leave its old bundle behind.
  await rm(functionsDir, { recursive: true, force: true });
  await mkdir(functionsDir, { recursive: true });

  const written = new Map<string, Uint8Array>();
  const graphText = serializeGraph(app.graph);
  written.set("graph.json", new TextEncoder().encode(graphText.endsWith("\n") ? graphText : `${graphText}\n`));

  for (const fn of resourcesOf(app.graph, "function").sort((a, b) => a.name.localeCompare(b.name))) {
    const outfile = join(functionsDir, `${fn.name}.mjs`);
    try {
      const result = await esbuild({
        ...handlerBuild,
        entryPoints: [join(app.dir, fn.spec.handler)],
        // Paths in comments and source maps are relative to this, so the output does not depend on the caller's cwd.
        absWorkingDir: app.dir,
        outfile,
        write: false,
      });
      for (const file of result.outputFiles ?? []) written.set(toPosix(relative(out, file.path)), file.contents);
    } catch (error) {
      throw new NimbusError(
        "NIMBUS_FUNCTION_BUILD",
        `function "${fn.name}" does not build (handler ${fn.spec.handler}):\n  ${errorLines(error).join("\n  ")}`,
        { cause: error },
      );
    }
  }

  const files: BuiltFile[] = [];
  for (const [path, bytes] of [...written].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    await writeFile(join(out, path), bytes);
    files.push({ path, sha256: createHash("sha256").update(bytes).digest("hex"), bytes: bytes.byteLength });
  }
  await writeFile(
    join(out, "manifest.json"),
    `${JSON.stringify({ version: manifestVersion, app: app.graph.app, files }, null, 2)}\n`,
  );
  return { out, graph: app.graph, files };
}

/** `nimbus build [dir] --out <folder>`: builds, then prints each file with its hash. */
export async function buildCommand(args: { dir: string; out?: string }, output: Output): Promise<void> {
  const result = await build(args);
  const functions = resourcesOf(result.graph, "function").length;
  output.out(
    `Built ${functions} function${functions === 1 ? "" : "s"} of "${result.graph.app}" into ${result.out}:\n${result.files
      .map((file) => `  ${file.path}  ${file.sha256.slice(0, 12)}  ${file.bytes} B`)
      .join("\n")}\n  manifest.json`,
  );
}

function toPosix(path: string): string {
  return path.split(sep).join("/");
}

/** esbuild's messages as `file:line:column: text`, or the error's message. */
function errorLines(error: unknown): string[] {
  const errors = (
    error as { errors?: { text: string; location?: { file: string; line: number; column: number } | null }[] }
  ).errors;
  if (!errors?.length) return [(error as Error).message ?? String(error)];
  return errors.map(({ text, location }) =>
    location ? `${location.file}:${location.line}:${location.column}: ${text}` : text,
  );
}
