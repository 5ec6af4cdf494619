import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { NimbusError } from "@nimbus/core";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { main } from "../main.ts";
import { init } from "./init.ts";

const cliDir = join(import.meta.dirname, "..", "..");
const cliVersion = (JSON.parse(await readFile(join(cliDir, "package.json"), "utf8")) as { version: string }).version;

/** Runs the CLI, collecting what it printed. */
async function run(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, { out: (text) => out.push(text), err: (text) => err.push(text) });
  return { code, stdout: out.join("\n"), stderr: err.join("\n") };
}

const readJson = async (path: string) => JSON.parse(await readFile(path, "utf8"));

describe("nimbus init", () => {
  // Inside packages/cli, so the generated app's `@nimbus/*` imports resolve through this package.
  let parent: string;
  beforeEach(async () => {
    parent = await mkdtemp(join(cliDir, ".tmp-init-"));
  });
  afterEach(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  test("init: writes the blank app, named after its folder, with its handler, test, package.json, tsconfig and .gitignore", async () => {
    const dir = join(parent, "My Hello_App");
    const result = await run("init", dir);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Created "my-hello-app" from the blank template in ${dir}:`);
    expect(result.stdout).toContain("  npm test");

    const created = await init({ dir: join(parent, "again") });
    expect(created.files).toEqual([
      ".gitignore",
      "nimbus.app.ts",
      "package.json",
      "src/web.ts",
      "test/web.test.ts",
      "tsconfig.json",
    ]);

    const manifest = await readJson(join(dir, "package.json"));
    expect(manifest).toMatchObject({
      name: "my-hello-app",
      private: true,
      type: "module",
      scripts: { dev: "nimbus dev", test: "vitest run" },
      dependencies: { "@nimbus/core": `^${cliVersion}`, "@nimbus/runtime": `^${cliVersion}` },
      devDependencies: { "@nimbus/emulator": `^${cliVersion}`, nimbus: `^${cliVersion}`, vitest: "^5.1.2" },
    });
    expect(JSON.stringify(manifest)).not.toContain("workspace:");
    const tsconfig = await readJson(join(dir, "tsconfig.json"));
    expect(tsconfig.compilerOptions).toMatchObject({ moduleResolution: "bundler", strict: true });
    expect(tsconfig.compilerOptions.customConditions).toBeUndefined();
    expect((await readFile(join(dir, ".gitignore"), "utf8")).split("\n")).toEqual(
      expect.arrayContaining(["node_modules/", ".nimbus/", ".env"]),
    );

    // The app the folder now holds is a valid one, under its own name.
    const graph = await run("graph", dir);
    expect(graph.stderr).toBe("");
    expect(JSON.parse(graph.stdout)).toMatchObject({
      app: "my-hello-app",
      resources: [{ kind: "function", name: "web", spec: { routes: [{ method: "GET", path: "/hello/:name" }] } }],
    });
  });

  test("init --template shop: writes the shop example with its test", async () => {
    const dir = join(parent, "shop");
    const result = await init({ dir, template: "shop" });
    expect(result.files).toEqual(expect.arrayContaining(["nimbus.app.ts", "src/api.ts", "test/orders.test.ts"]));
    expect(await readFile(join(dir, "nimbus.app.ts"), "utf8")).toContain('new App("shop")');
    expect((await run("graph", dir)).code).toBe(0);
  });

  test("init: refuses a folder with files in it, naming them, and writes over them with --force", async () => {
    const dir = join(parent, "taken");
    await mkdir(dir);
    await writeFile(join(dir, "notes.txt"), "mine");
    await writeFile(join(dir, "nimbus.app.ts"), "// mine");

    const refused = await run("init", dir);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `✖ ${dir} is not empty (nimbus.app.ts, notes.txt). Pass an empty or new folder, or add --force to write the template over it (files it also has are replaced).`,
    );
    expect(await readFile(join(dir, "nimbus.app.ts"), "utf8")).toBe("// mine");
    await expect(init({ dir })).rejects.toSatisfy(
      (error) => NimbusError.is(error) && error.code === "NIMBUS_CLI_INIT_NOT_EMPTY",
    );

    expect((await run("init", dir, "--force")).code).toBe(0);
    expect(await readFile(join(dir, "nimbus.app.ts"), "utf8")).toContain('new App("taken")');
    expect(await readFile(join(dir, "notes.txt"), "utf8")).toBe("mine");
  });

  test("init: a folder holding only .git counts as empty", async () => {
    const dir = join(parent, "repo");
    await mkdir(join(dir, ".git"), { recursive: true });
    expect((await init({ dir })).files).toContain("nimbus.app.ts");
  });

  test("init --template: an unknown template is refused, listing the ones there are", async () => {
    const result = await run("init", join(parent, "x"), "--template", "blog");
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('✖ Unknown template "blog"; expected --template blank, shop, telemetry.');
  });
});
