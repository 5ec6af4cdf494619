import { createHash } from "node:crypto";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { main } from "../main.ts";
import { build } from "./build.ts";
import { copyShop, snapshot } from "./shop-copy.test-helper.ts";

describe("nimbus build", () => {
  let app: string;
  let out: string;

  beforeAll(async () => {
    app = await copyShop(".tmp-build-shop-");
    out = join(app, "out");
  });
  afterAll(async () => {
    await rm(app, { recursive: true, force: true });
  });

  test("build: writes the graph, one importable bundle per function and a manifest of their hashes", async () => {
    const printed: string[] = [];
    const code = await main(["build", app, "--out", out], {
      out: (text) => printed.push(text),
      err: (text) => printed.push(text),
    });
    expect(code, printed.join("\n")).toBe(0);
    expect(printed.join("\n")).toContain('Built 4 functions of "shop"');

    const graph = JSON.parse(await readFile(join(out, "graph.json"), "utf8"));
    expect(graph.app).toBe("shop");
    const functions = (await readdir(join(out, "functions"))).sort();
    expect(functions).toEqual([
      "api.mjs",
      "api.mjs.map",
      "fulfil.mjs",
      "fulfil.mjs.map",
      "mailer.mjs",
      "mailer.mjs.map",
      "report.mjs",
      "report.mjs.map",
    ]);

    const api = (await import(pathToFileURL(join(out, "functions", "api.mjs")).href)) as {
      default: { fetch?: unknown };
    };
    expect(typeof api.default.fetch).toBe("function");
    const fulfil = (await import(pathToFileURL(join(out, "functions", "fulfil.mjs")).href)) as {
      default: { queue?: unknown };
    };
    expect(typeof fulfil.default.queue).toBe("function");

    const manifest = JSON.parse(await readFile(join(out, "manifest.json"), "utf8")) as {
      files: { path: string; sha256: string; bytes: number }[];
    };
    expect(manifest.files.map((file) => file.path)).toEqual([
      ...functions.map((name) => `functions/${name}`),
      "graph.json",
    ]);
    for (const file of manifest.files) {
      const bytes = await readFile(join(out, file.path));
      expect(file.sha256, file.path).toBe(createHash("sha256").update(bytes).digest("hex"));
    }
    // Nothing says where or when it was built.
    const text = await readFile(join(out, "functions", "api.mjs"), "utf8");
    const map = await readFile(join(out, "functions", "api.mjs.map"), "utf8");
    expect(text).not.toContain(app);
    expect(map).not.toContain(app);
  });

  test("build: unchanged sources give the same bytes", async () => {
    await build({ dir: app, out });
    const first = await snapshot(out);
    await build({ dir: app, out });
    expect(await snapshot(out)).toEqual(first);
  });

  test("build: a one-line change in one handler changes only that function's bundle", async () => {
    await build({ dir: app, out });
    const before = await snapshot(out);
    const handler = join(app, "src", "mailer.ts");
    await writeFile(handler, `${await readFile(handler, "utf8")}\nconsole.log("mailer loaded");\n`);
    await build({ dir: app, out });
    const after = await snapshot(out);

    const changed = [...after.keys()].filter((path) => after.get(path) !== before.get(path)).sort();
    expect(changed).toEqual(["functions/mailer.mjs", "functions/mailer.mjs.map", "manifest.json"]);
  });
});
