import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { type Graph, serializeGraph } from "@nimbus/core";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DockerApp } from "./app.ts";
import { readTree } from "./images.ts";
import { mockPulumi, outputValue, settled } from "./mocks.test-helper.ts";
import { emitProject, hostLayout, pinnedVersions, readProject, stackOutputs } from "./project.ts";
import { shopGraph } from "./shop.test-helper.ts";

const timeout = 60_000;
const packageDir = join(import.meta.dirname, "..");
const repoRoot = join(packageDir, "..", "..");
const text = (value: string) => new TextEncoder().encode(value);

const hostFiles = new Map([
  [hostLayout.host, text("console.log('host');\n")],
  [hostLayout.store, text("console.log('store');\n")],
]);
const bundlesOf = (graph: Graph, content = (fn: string) => `export default { fn: "${fn}" };\n`) =>
  Object.fromEntries(
    graph.resources.filter((r) => r.kind === "function").map((r) => [r.name, text(content(r.name))] as const),
  );

const snapshot = (dir: string) =>
  new Map([...readTree(dir)].map(([path, bytes]) => [path, Buffer.from(bytes).toString("base64")]));

let shop: Graph;
// Inside this package, so the project's imports resolve through this workspace's node_modules.
let work: string;
beforeAll(async () => {
  shop = await shopGraph();
  work = mkdtempSync(join(packageDir, ".tmp-project-"));
}, timeout);
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
});

/** Emits the shop's project into a fresh folder that resolves `@nimbus/deploy-docker` to this workspace's package. */
function emitShop(name: string): string {
  const out = join(work, name);
  emitProject({ graph: shop, bundles: bundlesOf(shop), hostFiles, out });
  mkdirSync(join(out, "node_modules", "@nimbus"), { recursive: true });
  symlinkSync(packageDir, join(out, "node_modules", "@nimbus", "deploy-docker"), "dir");
  return out;
}

describe("emitProject", () => {
  test(
    "emitProject: writes Pulumi.yaml, a pinned package.json, the entry, the graph, the bundles and the host; the same bytes again",
    () => {
      const out = join(work, "files");
      const first = emitProject({ graph: shop, bundles: bundlesOf(shop), hostFiles, out });
      expect(first.files).toEqual([
        ".gitignore",
        "Pulumi.yaml",
        "functions/api.mjs",
        "functions/fulfil.mjs",
        "functions/mailer.mjs",
        "functions/report.mjs",
        "graph.json",
        "host/main.js",
        "host/store/main.js",
        "index.ts",
        "package.json",
        "tsconfig.json",
      ]);
      const before = snapshot(out);
      expect([...before.keys()].sort()).toEqual(first.files);

      const yaml = readFileSync(join(out, "Pulumi.yaml"), "utf8");
      expect(yaml).toContain('name: "shop"\n');
      expect(yaml).toContain("runtime:\n  name: nodejs\n  options:\n");
      const manifest = JSON.parse(readFileSync(join(out, "package.json"), "utf8"));
      expect(manifest.dependencies).toEqual({
        "@nimbus/deploy-docker": pinnedVersions["@nimbus/deploy-docker"],
        "@pulumi/docker": pinnedVersions["@pulumi/docker"],
        "@pulumi/pulumi": pinnedVersions["@pulumi/pulumi"],
      });
      for (const version of Object.values(manifest.dependencies)) expect(version).toMatch(/^\d+\.\d+\.\d+$/);
      expect(readFileSync(join(out, "graph.json"), "utf8").trimEnd()).toBe(serializeGraph(shop).trimEnd());
      expect(readFileSync(join(out, "functions", "api.mjs"), "utf8")).toBe('export default { fn: "api" };\n');

      // A stack's config beside the project survives a second emission.
      writeFileSync(join(out, "Pulumi.dev.yaml"), "config: {}\n");
      emitProject({ graph: shop, bundles: bundlesOf(shop), hostFiles, out });
      const after = snapshot(out);
      after.delete("Pulumi.dev.yaml");
      expect(after).toEqual(before);
    },
    timeout,
  );

  test(
    "emitProject: a function removed from the app loses its bundle; the stack's config stays",
    () => {
      const out = join(work, "prune");
      emitProject({ graph: shop, bundles: bundlesOf(shop), hostFiles, out });
      writeFileSync(join(out, "Pulumi.dev.yaml"), "config: {}\n");
      const smaller = structuredClone(shop);
      smaller.resources = smaller.resources.filter((r) => !(r.kind === "function" && r.name === "report"));
      smaller.edges = smaller.edges.filter((e) => e.from !== "function:report" && e.to !== "function:report");
      // The schedule targeting `report` would fail validation elsewhere; the emitter trusts its graph.
      emitProject({
        graph: smaller,
        bundles: bundlesOf(smaller),
        hostFiles: new Map([[hostLayout.host, text("")]]),
        out,
      });
      const files = [...readTree(out).keys()].sort();
      expect(files.filter((path) => path.startsWith("functions/"))).toEqual([
        "functions/api.mjs",
        "functions/fulfil.mjs",
        "functions/mailer.mjs",
      ]);
      expect(files.filter((path) => path.startsWith("host/"))).toEqual(["host/main.js"]);
      expect(files).toContain("Pulumi.dev.yaml");
      expect(readFileSync(join(out, "index.ts"), "utf8")).not.toContain("report");
    },
    timeout,
  );

  test(
    "emitProject: a function without a bundle fails, naming it",
    () => {
      const bundles = bundlesOf(shop);
      delete bundles.mailer;
      expect(() => emitProject({ graph: shop, bundles, hostFiles, out: join(work, "missing") })).toThrow(
        'No bundle for function "mailer" of app "shop"; pass each function\'s bundle (nimbus build writes them to functions/<fn>.mjs).',
      );
    },
    timeout,
  );

  test(
    "emitProject: the entry loads under plain mocks, exports the stack outputs and registers what DockerApp registers for the shop",
    async () => {
      const out = emitShop("load");
      const loaded = await mockPulumi("dev");
      pulumi.runtime.setConfig("nimbus:credentialSeed", "test-seed");
      const entry = (await import(/* @vite-ignore */ pathToFileURL(join(out, "index.ts")).href)) as Record<
        string,
        pulumi.Output<unknown> | string | Record<string, string>
      >;
      expect(Object.keys(entry).sort()).toEqual([...stackOutputs].sort());
      expect(entry.gatewayUrl).toBe("http://127.0.0.1:8080");
      expect(entry.s3Endpoint).toBe("http://127.0.0.1:9000");
      expect(entry.bucketNames).toEqual({ receipts: "dev-shop-receipts" });
      await settled();

      // The same app built directly from the project's files, as nimbus deploy does.
      const direct = await mockPulumi("dev");
      pulumi.runtime.setConfig("nimbus:credentialSeed", "test-seed");
      const app = new DockerApp("shop", readProject(out));
      await outputValue(pulumi.output(app.gatewayUrl));
      await settled();

      const pairs = (registered: typeof loaded) => registered.map((r) => `${r.type} ${r.name}`).sort();
      expect(pairs(loaded)).toEqual(pairs(direct));
      expect(pairs(loaded)).toContain("nimbus:docker:App shop");
      expect(pairs(loaded).filter((pair) => pair.startsWith("docker:index/container:Container"))).toHaveLength(9);
      // The build contexts are relative to where Pulumi runs, not where the project was checked out.
      const image = loaded.find((r) => r.name === "dev-shop-fn-api")!;
      const context = (image.inputs.build as { context: string }).context;
      expect(context.startsWith("/")).toBe(false);
      expect(context.endsWith(join("load", ".nimbus-build", "functions", "api"))).toBe(true);
    },
    timeout,
  );

  test(
    "emitProject: the emitted project type-checks with tsc against this workspace's packages",
    async () => {
      const out = emitShop("typecheck");
      // As the project's own tsconfig, plus the condition that resolves the workspace's sources.
      writeFileSync(
        join(out, "tsconfig.check.json"),
        JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { customConditions: ["nimbus-source"] } }),
      );
      const tsc = join(repoRoot, "node_modules", "typescript", "bin", "tsc");
      const result = await run(process.execPath, [tsc, "-p", join(out, "tsconfig.check.json")], out);
      expect(result.output).toBe("");
      expect(result.code).toBe(0);

      // And a type error in the entry is caught by the same check.
      writeFileSync(
        join(out, "index.ts"),
        readFileSync(join(out, "index.ts"), "utf8").replace('hostDir: file("host")', "hostDir: 42"),
      );
      const broken = await run(process.execPath, [tsc, "-p", join(out, "tsconfig.check.json")], out);
      expect(broken.code).not.toBe(0);
      expect(broken.output).toMatch(/index\.ts.*error TS2322/);
    },
    timeout,
  );

  test("pinnedVersions: are the versions this workspace has installed and tested with", () => {
    const version = (path: string) => JSON.parse(readFileSync(path, "utf8")).version as string;
    expect(pinnedVersions).toEqual({
      "@nimbus/deploy-docker": version(join(packageDir, "package.json")),
      "@pulumi/docker": version(join(packageDir, "node_modules", "@pulumi", "docker", "package.json")),
      "@pulumi/pulumi": version(join(packageDir, "node_modules", "@pulumi", "pulumi", "package.json")),
      "@types/node": version(join(repoRoot, "node_modules", "@types", "node", "package.json")),
      typescript: version(join(repoRoot, "node_modules", "typescript", "package.json")),
    });
  });
});

function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd });
    let output = "";
    child.stdout.on("data", (data) => {
      output += data;
    });
    child.stderr.on("data", (data) => {
      output += data;
    });
    child.on("close", (code) => resolve({ code, output }));
  });
}
