import { existsSync, statSync } from "node:fs";
import { mkdir, readFile, rm } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { App, type Graph, GraphError, type GraphIssue, NimbusError, type Resource } from "@nimbus/core";
import { build } from "esbuild";
import { buildErrorLines } from "../build/build-errors.ts";
import { nodeModuleBuild } from "../build/node-module.ts";
import { mapStack } from "../build/source-map.ts";

let loads = 0;

export const appFileNames = ["nimbus.app.ts", "nimbus.app.mts", "nimbus.app.js", "nimbus.app.mjs"] as const;

export interface LoadedApp {
  /** Absolute path of the app folder. */
  dir: string;
  /** Absolute path of the app file. */
  file: string;
  graph: Graph;
  /** Every local file the app file was built from: what hot reload watches. */
  inputs: string[];
}

/** The app file in `dir`, or a user error saying how to make one. */
export function findAppFile(dir: string): string {
  const folder = resolve(dir);
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new NimbusError(
      "NIMBUS_APP_DIR_MISSING",
      `No folder at ${folder}. Pass the folder that holds nimbus.app.ts.`,
    );
  }
  for (const name of appFileNames) {
    const file = join(folder, name);
    if (existsSync(file)) return file;
  }
  throw new NimbusError(
    "NIMBUS_APP_MISSING",
    `No nimbus.app.ts in ${folder}. Create one that does \`export default new App("my-app")\`, or pass the folder that holds it.`,
  );
}

/**
 * Builds the app file with esbuild (so it may import local TypeScript the way handlers
 * do), runs it, and returns its validated graph. Handler files that do not exist are
 * reported in the same `GraphError` as every other problem.
 */
export async function loadApp(dir: string): Promise<LoadedApp> {
  const file = findAppFile(dir);
  const folder = resolve(dir);
  // Written inside the app folder so the bundle resolves @nimbus/core from the app's own dependencies.
  const outDir = join(folder, ".nimbus", "build");
  await mkdir(outDir, { recursive: true });
  // A file per load: two processes loading one app at once never read each other's half-written build.
  const outfile = join(outDir, `app-${process.pid}-${++loads}.mjs`);
  let inputs: string[];
  let module: { default?: unknown };
  try {
    const result = await build({
      ...nodeModuleBuild,
      entryPoints: [file],
      outfile,
      packages: "external",
    });
    inputs = Object.keys(result.metafile.inputs).map((input) => resolve(input));
  } catch (error) {
    throw new NimbusError("NIMBUS_APP_BUILD", `Could not build ${file}:\n  ${buildErrorLines(error).join("\n  ")}`, {
      cause: error,
    });
  }
  try {
    module = (await import(pathToFileURL(outfile).href)) as { default?: unknown };
  } catch (error) {
    throw await appThrew(error, file, folder, outfile);
  } finally {
    await rm(outfile, { force: true });
  }
  if (!App.is(module.default)) {
    throw new NimbusError(
      "NIMBUS_APP_EXPORT",
      `${file} must \`export default\` its App (found ${module.default === undefined ? "no default export" : typeof module.default}). Add \`export default app;\` at the end.`,
    );
  }
  const graph = module.default.toGraph({ check: (resources) => missingHandlers(folder, resources) });
  return { dir: folder, file, graph, inputs };
}

/**
 * A throw while the app file ran, pointing at the author's lines (the build it ran from
 * is about to be removed): `nimbus.app.ts:3:7`, source-mapped. Our own errors (a
 * construct's props, a graph problem) already say what to fix and pass through.
 */
async function appThrew(error: unknown, file: string, folder: string, outfile: string): Promise<unknown> {
  if (NimbusError.is(error) || GraphError.isGraphError(error)) return error;
  const stack = error instanceof Error ? (error.stack ?? `${error.name}: ${error.message}`) : `${String(error)}`;
  const code = await readFile(outfile, "utf8").catch(() => "");
  const mapped = mapStack(stack, { bundle: outfile, code, root: folder });
  return new NimbusError("NIMBUS_APP_THROW", `${basename(file)} threw while it ran: ${mapped}`, { cause: error });
}

function missingHandlers(dir: string, resources: readonly Resource[]): GraphIssue[] {
  const issues: GraphIssue[] = [];
  for (const resource of resources) {
    if (resource.kind !== "function") continue;
    const path = join(dir, resource.spec.handler);
    if (existsSync(path) && statSync(path).isFile()) continue;
    issues.push({
      code: "NIMBUS_HANDLER_MISSING",
      resource: `function "${resource.name}"`,
      field: "handler",
      message: `expected a handler module at ${resource.spec.handler} (relative to the app file); there is no such file. Create it or fix the path`,
    });
  }
  return issues;
}
