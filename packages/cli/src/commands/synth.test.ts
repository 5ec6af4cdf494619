import { spawnSync } from "node:child_process";
import { cp, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { main } from "../main.ts";
import { copyShop, snapshot } from "./shop-copy.test-helper.ts";

const timeout = 120_000;

async function cli(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (text) => out.push(text), err: (text) => err.push(text) });
  return { code, out: out.join("\n"), err: err.join("\n") };
}

describe("nimbus synth", () => {
  let app: string;
  let out: string;

  beforeAll(async () => {
    app = await copyShop(".tmp-synth-shop-");
    out = join(app, "deploy");
  });
  afterAll(async () => {
    await rm(app, { recursive: true, force: true });
  });

  test(
    "synth: writes the Pulumi project with the graph, the bundles and the built host, the same bytes on a second run",
    async () => {
      const first = await cli(["synth", app, "--target", "docker", "--out", out]);
      expect(first.code, first.err).toBe(0);
      const before = await snapshot(out);
      expect(first.out).toContain(`Synthesized "shop" for the docker target into ${out} (${before.size} files).`);
      // The host and the store are split at their dynamic imports: an entry and its chunks.
      const chunk = /^host\/(store\/)?chunk-[A-Z0-9]+\.js$/;
      const chunks = [...before.keys()].filter((path) => chunk.test(path));
      expect(chunks.some((path) => path.startsWith("host/chunk-"))).toBe(true);
      expect([...before.keys()].filter((path) => !chunk.test(path)).sort()).toEqual([
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
      const graph = JSON.parse(await readFile(join(out, "graph.json"), "utf8"));
      expect(graph.app).toBe("shop");
      expect(await readFile(join(out, "index.ts"), "utf8")).toContain('"api": file("functions/api.mjs"),');

      // A stack's settings beside the project are kept; every emitted byte is the same.
      await writeFile(join(out, "Pulumi.dev.yaml"), "config: {}\n");
      const second = await cli(["synth", app, "--out", out]);
      expect(second.code, second.err).toBe(0);
      const after = await snapshot(out);
      expect(after.get("Pulumi.dev.yaml")).toBeDefined();
      after.delete("Pulumi.dev.yaml");
      expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
      expect([...after].filter(([path, bytes]) => before.get(path) !== bytes).map(([path]) => path)).toEqual([]);
    },
    timeout,
  );

  test(
    "synth: the host and the store are self-contained bundles that run outside the workspace",
    async () => {
      // Away from any node_modules: a missing dependency would fail the import.
      const away = await mkdtemp(join(tmpdir(), "nimbus-host-"));
      try {
        await cp(join(out, "host"), join(away, "host"), { recursive: true });
        for (const [file, variable] of [
          ["host/main.js", "NIMBUS_ROLE"],
          ["host/store/main.js", "NIMBUS_"],
        ] as const) {
          const copy = join(away, file);
          // With no configuration each exits 1 naming the variables it needs, which it reads only once loaded.
          const result = spawnSync(process.execPath, [copy], { encoding: "utf8", env: { PATH: "" }, timeout: 30_000 });
          expect(result.status, `${file}: ${result.stderr}`).toBe(1);
          expect(`${result.stdout}${result.stderr}`, file).toContain(variable);
          expect(`${result.stdout}${result.stderr}`, file).not.toMatch(
            /ERR_MODULE_NOT_FOUND|Cannot find (module|package)/,
          );
        }
      } finally {
        await rm(away, { recursive: true, force: true });
      }
    },
    timeout,
  );

  test("synth: --target kubernetes says it is not built yet", async () => {
    const result = await cli(["synth", app, "--target", "kubernetes"]);
    expect(result.code).toBe(1);
    expect(result.err).toBe(
      "✖ The kubernetes target is not built yet; only --target docker exists. Deploy on one Docker host for now (nimbus synth --target docker).",
    );
  });

  test("synth: an unknown target is named", async () => {
    const result = await cli(["synth", app, "--target", "lambda"]);
    expect(result.code).toBe(1);
    expect(result.err).toBe('✖ Unknown target "lambda"; expected --target docker.');
  });
});
