import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Graph, NimbusError, resourcesOf, serializeGraph } from "@nimbus/core";
import type { DockerAppArgs } from "./app.ts";
import { checkSupported } from "./app.ts";
import { readTree } from "./images.ts";

/**
 * The exact versions an emitted project installs. Exact, so that a team's CI deploys
 * with what was tested; a test checks them against this workspace's installed copies.
 * `@nimbus/deploy-docker` is this package's own version: the packages must be installable
 * from a registry for `npm install` in the project to work.
 */
export const pinnedVersions = {
  "@nimbus/deploy-docker": "0.1.0",
  "@pulumi/docker": "5.2.0",
  "@pulumi/pulumi": "3.276.0",
  "@types/node": "24.19.4",
  typescript: "6.0.3",
} as const;

/** What a `hostDir` holds, relative to it; the base image copies it to `/nimbus/host/`. */
export const hostLayout = {
  /** The runtime host (`@nimbus/runtime`'s `host/main.ts`), bundled: this entry and its chunks beside it. */
  host: "main.js",
  /** The Nimbus store service (`@nimbus/store`'s `service/main.ts`), bundled: this entry and its chunks beside it. */
  store: "store/main.js",
} as const;

/** The stack outputs of an emitted project, in the order its entry exports them. */
export const stackOutputs = ["gatewayUrl", "s3Endpoint", "bucketNames"] as const;

/** Where a project keeps what it emits; everything else in its folder (stack config, node_modules) is left alone. */
const paths = {
  graph: "graph.json",
  functions: "functions",
  host: "host",
  buildDir: ".nimbus-build",
} as const;

export interface EmitProjectOptions {
  /** The app's validated graph. */
  graph: Graph;
  /** Each function's bundle (an ES module), by function name: `nimbus build`'s `functions/<fn>.mjs`. */
  bundles: Readonly<Record<string, Uint8Array>>;
  /** The host's built files by path inside `hostDir` (see `hostLayout`). */
  hostFiles: ReadonlyMap<string, Uint8Array>;
  /** The project's folder; created when missing. */
  out: string;
}

export interface EmitProjectResult {
  /** Every file emitted, relative to `out` with `/`, sorted. */
  files: string[];
}

/**
 * Writes a standalone Pulumi project that deploys the app on a Docker host: Pulumi.yaml,
 * a package.json with exact versions, a thin `index.ts` entry that Node runs as it is
 * (type stripping, no ts-node), its tsconfig.json, the graph, the bundles and the host's
 * built files. The same inputs give the same bytes, and a file whose bytes are already
 * there is not rewritten; bundles and host files no longer emitted are removed. Stack
 * config files, node_modules and the images' build contexts in `out` are left alone.
 */
export function emitProject(options: EmitProjectOptions): EmitProjectResult {
  const { graph, out } = options;
  checkSupported(graph);
  const functions = resourcesOf(graph, "function")
    .map((fn) => fn.name)
    .sort();
  const missing = functions.filter((fn) => options.bundles[fn] === undefined);
  if (missing.length > 0) {
    throw new NimbusError(
      "NIMBUS_DOCKER_BUNDLE",
      `No bundle for function ${missing.map((fn) => `"${fn}"`).join(", ")} of app "${graph.app}"; pass each function's bundle (nimbus build writes them to functions/<fn>.mjs).`,
    );
  }
  if (!options.hostFiles.has(hostLayout.host)) {
    throw new NimbusError(
      "NIMBUS_DOCKER_BUNDLE",
      `The host's files for app "${graph.app}" have no ${hostLayout.host}; the base image runs it. Pass the bundled runtime host (nimbus synth builds it).`,
    );
  }

  const text = (value: string) => new TextEncoder().encode(value);
  const graphText = serializeGraph(graph);
  const top = new Map<string, Uint8Array>([
    ["Pulumi.yaml", text(pulumiYaml(graph.app))],
    ["package.json", text(packageJson(graph.app))],
    ["tsconfig.json", text(tsconfigJson)],
    ["index.ts", text(entry(graph.app, functions))],
    [".gitignore", text(`node_modules/\n${paths.buildDir}/\n`)],
    [paths.graph, text(graphText.endsWith("\n") ? graphText : `${graphText}\n`)],
  ]);
  const bundles = new Map(functions.map((fn) => [`${fn}.mjs`, options.bundles[fn]!]));

  mkdirSync(out, { recursive: true });
  for (const [path, bytes] of top) writeIfChanged(join(out, path), bytes);
  syncFolder(join(out, paths.functions), bundles);
  syncFolder(join(out, paths.host), options.hostFiles);

  const files = [
    ...top.keys(),
    ...[...bundles.keys()].map((path) => `${paths.functions}/${path}`),
    ...[...options.hostFiles.keys()].map((path) => `${paths.host}/${path}`),
  ].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { files };
}

/**
 * The arguments an emitted project's entry gives DockerApp, read from its folder, for a
 * program that runs in another process than Pulumi's (`nimbus deploy`'s inline program).
 */
export function readProject(dir: string): Pick<DockerAppArgs, "graph" | "bundles" | "hostDir" | "buildDir"> {
  const graph = JSON.parse(readFileSync(join(dir, paths.graph), "utf8")) as Graph;
  const bundles: Record<string, string> = {};
  for (const fn of resourcesOf(graph, "function")) bundles[fn.name] = join(dir, paths.functions, `${fn.name}.mjs`);
  return { graph, bundles, hostDir: join(dir, paths.host), buildDir: join(dir, paths.buildDir) };
}

function pulumiYaml(app: string): string {
  return [
    `# Emitted by \`nimbus synth --target docker\` from the Nimbus app ${JSON.stringify(app)}.`,
    "# Change the app and synthesize again rather than editing this project.",
    `name: ${JSON.stringify(app)}`,
    `description: ${JSON.stringify(`The Nimbus app "${app}" on one Docker host`)}`,
    "runtime:",
    "  name: nodejs",
    "  options:",
    "    # Node 22.18 or later runs index.ts itself (type stripping): no ts-node, no build step.",
    "    typescript: false",
    "",
  ].join("\n");
}

function packageJson(app: string): string {
  const { typescript, "@types/node": types, ...dependencies } = pinnedVersions;
  const manifest = {
    name: `${app}-deploy`,
    private: true,
    type: "module",
    main: "index.ts",
    engines: { node: ">=22.18.0" },
    scripts: { typecheck: "tsc" },
    dependencies,
    devDependencies: { "@types/node": types, typescript },
  };
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

const tsconfigJson = `${JSON.stringify(
  {
    compilerOptions: {
      target: "es2024",
      lib: ["es2024"],
      module: "nodenext",
      moduleResolution: "nodenext",
      types: ["node"],
      strict: true,
      noUncheckedIndexedAccess: true,
      verbatimModuleSyntax: true,
      erasableSyntaxOnly: true,
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      noEmit: true,
    },
    include: ["index.ts"],
  },
  null,
  2,
)}\n`;

function entry(app: string, functions: readonly string[]): string {
  const bundles = functions.map(
    (fn) => `    ${JSON.stringify(fn)}: file(${JSON.stringify(`${paths.functions}/${fn}.mjs`)}),`,
  );
  return `// Emitted by \`nimbus synth --target docker\` from the Nimbus app ${JSON.stringify(app)}.
// \`pulumi up\` deploys it; change the app and synthesize again rather than editing it.
import { readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { DockerApp } from "@nimbus/deploy-docker";

// Relative to the folder Pulumi runs in (this one), so the stack's state does not
// record where the project was checked out.
const file = (path: string): string => relative(process.cwd(), join(import.meta.dirname, path)) || ".";

const app = new DockerApp(${JSON.stringify(app)}, {
  graph: JSON.parse(readFileSync(file(${JSON.stringify(paths.graph)}), "utf8")),
  bundles: {
${bundles.join("\n")}
  },
  hostDir: file(${JSON.stringify(paths.host)}),
  buildDir: file(${JSON.stringify(paths.buildDir)}),
});

${stackOutputs.map((name) => `export const ${name} = app.${name};`).join("\n")}
`;
}

function writeIfChanged(path: string, bytes: Uint8Array): void {
  try {
    if (Buffer.from(readFileSync(path)).equals(bytes)) return;
  } catch {
    // Not there yet.
  }
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, bytes);
}

/** Makes `dir` hold exactly `files`: stale files go, unchanged ones keep their time stamps. */
function syncFolder(dir: string, files: ReadonlyMap<string, Uint8Array>): void {
  mkdirSync(dir, { recursive: true });
  let existing = new Map<string, Uint8Array>();
  try {
    existing = readTree(dir);
  } catch {
    // Not there yet.
  }
  for (const path of existing.keys()) if (!files.has(path)) rmSync(join(dir, path));
  for (const [path, bytes] of files) writeIfChanged(join(dir, path), bytes);
  removeEmptyFolders(dir);
}

/** Removes the folders under `dir` that a removed file left empty. */
function removeEmptyFolders(dir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const path = join(dir, entry.name);
    removeEmptyFolders(path);
    if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
  }
}
