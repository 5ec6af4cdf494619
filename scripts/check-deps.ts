/**
 * The dependency direction of ARCHITECTURE.md, enforced: core imports nothing of ours;
 * the emulator and the deploy targets never import each other; examples, tests and
 * benchmarks use public exports only; no import crosses into another package by a
 * relative path; every third-party import is declared by the importing package.
 *
 * Usage: node scripts/check-deps.ts   (exits 1 and lists each wrong arrow)
 */
import { readdirSync, readFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

export interface Workspace {
  /** Folder relative to the repo root, e.g. `packages/core`. */
  dir: string;
  name: string;
  /** Our packages it may import, by their main entry. */
  mayImport: readonly string[];
  /**
   * The subpath entries it may import too, e.g. `@nimbus/runtime/target`; no others. A
   * subpath of a package outside `mayImport` opens that entry alone.
   */
  subpaths: readonly string[];
  /** Third-party packages it declares (dependencies, devDependencies, peerDependencies). */
  declared: ReadonlySet<string>;
}

/** The entry that targets plug their transports into; not for handler authors. */
const runtimeTarget = "@nimbus/runtime/target";
/**
 * The bus's put checks, apart from core's index because they need zod: a deployed host
 * loads them with its first put, and never loads zod otherwise.
 */
const coreBusEntries = "@nimbus/core/bus-entries";
/** The deployed host process and its drivers (S3, NATS JetStream). */
const runtimeHost = "@nimbus/runtime/host";
/** The host's test harness: a real nats-server per test, open or on a rendered configuration. */
const runtimeHostTesting = "@nimbus/runtime/host/testing";
/** The deployed store service, apart from the store's index so that the emulator never loads the NATS client. */
const storeService = "@nimbus/store/service";
/** The emulator for an app's own tests: createEmulator and what tests drive it with. */
const emulatorTesting = "@nimbus/emulator/testing";

export const rules: Record<string, { mayImport: readonly string[]; subpaths: readonly string[] }> = {
  "packages/core": { mayImport: [], subpaths: [] },
  "packages/runtime": { mayImport: ["@nimbus/core"], subpaths: [coreBusEntries] },
  "packages/store": {
    mayImport: ["@nimbus/core", "@nimbus/runtime"],
    subpaths: [runtimeTarget, runtimeHost, coreBusEntries],
  },
  emulator: {
    mayImport: ["@nimbus/core", "@nimbus/runtime", "@nimbus/store"],
    subpaths: [runtimeTarget, coreBusEntries],
  },
  "packages/deploy-docker": { mayImport: ["@nimbus/core"], subpaths: [] },
  "packages/deploy-kubernetes": { mayImport: ["@nimbus/core"], subpaths: [] },
  "packages/cli": {
    mayImport: ["@nimbus/core", "@nimbus/runtime", "@nimbus/store", "@nimbus/emulator", "@nimbus/deploy-docker"],
    subpaths: [runtimeTarget, runtimeHost],
  },
  bench: {
    mayImport: [
      "@nimbus/core",
      "@nimbus/runtime",
      "@nimbus/store",
      "@nimbus/emulator",
      "@nimbus/deploy-docker",
      "nimbus",
    ],
    subpaths: [runtimeHost, runtimeHostTesting, storeService],
  },
  test: {
    mayImport: [
      "@nimbus/core",
      "@nimbus/runtime",
      "@nimbus/store",
      "@nimbus/emulator",
      "@nimbus/deploy-docker",
      "nimbus",
    ],
    subpaths: [runtimeTarget, runtimeHost, runtimeHostTesting, storeService, emulatorTesting],
  },
  // An example's tests may start it in the emulator, through the testing entry only.
  "examples/*": { mayImport: ["@nimbus/core", "@nimbus/runtime"], subpaths: [emulatorTesting] },
};

export interface Violation {
  file: string;
  specifier: string;
  reason: string;
}

const ours = (specifier: string): string | undefined => {
  const match = /^(@nimbus\/[^/]+|nimbus)(\/.*)?$/.exec(specifier);
  return match?.[1];
};

const packageName = (specifier: string): string =>
  specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!;

const builtins = new Set(builtinModules);

/** Every module specifier a source file imports, statically or dynamically. */
export function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const found: string[] = [];
  for (const pattern of [
    /\b(?:import|export)\s+(?:type\s+)?(?:[\w*${}\s,]+?\s+from\s+)?["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
  ]) {
    for (const match of code.matchAll(pattern)) found.push(match[1]!);
  }
  return found;
}

/** Why importing `specifier` from `file` (both relative to the root) breaks a rule, if it does. */
export function checkImport(workspace: Workspace, file: string, specifier: string, root: string): string | undefined {
  if (specifier.startsWith(".")) {
    const target = relative(root, resolve(root, dirname(file), specifier));
    const inside = target === workspace.dir || target.startsWith(`${workspace.dir}${sep}`);
    return inside ? undefined : `a relative import leaves ${workspace.dir}; import the package by name instead`;
  }
  if (specifier.startsWith("node:") || builtins.has(specifier)) {
    // Tests of core may use Node; core's own modules may not.
    const isTest = /\.test(?:-d|-helper)?\.ts$/.test(file);
    return workspace.dir === "packages/core" && !isTest
      ? "core stays platform-neutral: no Node built-ins (put it in the runtime host or the emulator)"
      : undefined;
  }
  const own = ours(specifier);
  if (own) {
    if (own === workspace.name || workspace.subpaths.includes(specifier)) return undefined;
    if (!workspace.mayImport.includes(own)) {
      return `${workspace.name} may not import ${own} (allowed: ${workspace.mayImport.join(", ") || "none of ours"})`;
    }
    if (specifier !== own && !workspace.subpaths.includes(specifier)) {
      const others = workspace.subpaths.filter((subpath) => ours(subpath) === own);
      return `only ${[own, ...others].join(" and ")} may be imported, not ${specifier}`;
    }
    return undefined;
  }
  const name = packageName(specifier);
  return workspace.declared.has(name) ? undefined : `${name} is not declared in ${workspace.dir}/package.json`;
}

function sourceFiles(dir: string): string[] {
  const skip = new Set(["node_modules", "dist", ".nimbus", ".toolchain"]);
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (skip.has(entry.name) || entry.name.startsWith(".tmp-")) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(?:[cm]?ts|[cm]?js|tsx)$/.test(entry.name) ? [path] : [];
  });
}

function workspaces(root: string): Workspace[] {
  const rootManifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as Manifest;
  const result: Workspace[] = [];
  for (const [pattern, rule] of Object.entries(rules)) {
    const dirs = pattern.endsWith("/*")
      ? readdirSync(join(root, pattern.slice(0, -2)), { withFileTypes: true })
          .filter((entry) => entry.isDirectory())
          .map((entry) => `${pattern.slice(0, -2)}/${entry.name}`)
      : [pattern];
    for (const dir of dirs) {
      let manifest: Manifest;
      try {
        manifest = JSON.parse(readFileSync(join(root, dir, "package.json"), "utf8")) as Manifest;
      } catch {
        continue;
      }
      // Root devDependencies (vitest, typescript) are available to every workspace's tests.
      const declared = new Set([
        ...Object.keys(manifest.dependencies ?? {}),
        ...Object.keys(manifest.devDependencies ?? {}),
        ...Object.keys(manifest.peerDependencies ?? {}),
        ...Object.keys(rootManifest.devDependencies ?? {}),
      ]);
      result.push({ dir, name: manifest.name, ...rule, declared });
    }
  }
  return result;
}

interface Manifest {
  name: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

export function checkRepo(root: string): Violation[] {
  const violations: Violation[] = [];
  for (const workspace of workspaces(root)) {
    for (const path of sourceFiles(join(root, workspace.dir))) {
      const file = relative(root, path);
      for (const specifier of importsOf(readFileSync(path, "utf8"))) {
        const reason = checkImport(workspace, file, specifier, root);
        if (reason) violations.push({ file, specifier, reason });
      }
    }
  }
  return violations;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  const violations = checkRepo(root);
  for (const v of violations) console.error(`✖ ${v.file}: import "${v.specifier}": ${v.reason}`);
  if (violations.length > 0) {
    console.error(`\n${violations.length} import${violations.length === 1 ? "" : "s"} break the dependency rules.`);
    process.exitCode = 1;
  } else {
    console.log("✓ dependency direction holds");
  }
}
