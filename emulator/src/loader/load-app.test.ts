import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GraphError, NimbusError } from "@nimbus/core";
import { afterEach, describe, expect, it } from "vitest";
import { loadApp } from "./load-app.ts";

// Inside the package, so the app's `import "@nimbus/core"` resolves as it does for an author.
const packageDir = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const made: string[] = [];

async function appFolder(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(packageDir, ".tmp-app-"));
  made.push(dir);
  for (const [name, text] of Object.entries(files)) {
    await mkdir(dirname(join(dir, name)), { recursive: true });
    await writeFile(join(dir, name), text);
  }
  return dir;
}

afterEach(async () => {
  await Promise.all(made.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function failure(promise: Promise<unknown>): Promise<NimbusError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(NimbusError.is(error), String(error)).toBe(true);
  return error as NimbusError;
}

describe("loadApp", () => {
  it("load: builds the app file with its local imports and returns the graph and its inputs", async () => {
    const dir = await appFolder({
      "nimbus.app.ts": `import { App } from "@nimbus/core";
import { names } from "./names";
const app = new App("loaded");
app.function(names.api, { handler: "./src/api.ts", routes: ["GET /"] });
export default app;`,
      "names.ts": `export const names = { api: "api" } as const;`,
      "src/api.ts": "export default {};",
    });
    const loaded = await loadApp(dir);
    expect(loaded.graph.resources).toEqual([expect.objectContaining({ kind: "function", name: "api" })]);
    expect(loaded.inputs).toEqual(expect.arrayContaining([join(dir, "nimbus.app.ts"), join(dir, "names.ts")]));
  });

  it("load: reports missing handler files in the same list as every other problem", async () => {
    const dir = await appFolder({
      "nimbus.app.ts": `import { App } from "@nimbus/core";
const app = new App("missing");
app.function("api", { handler: "./src/api.ts" });
app.queue("jobs", { visibilityTimeout: "never" as never });
export default app;`,
    });
    const error = await failure(loadApp(dir));
    expect(GraphError.isGraphError(error)).toBe(true);
    expect((error as GraphError).issues.map((i) => [i.code, i.resource, i.field])).toEqual([
      ["NIMBUS_QUEUE_PROPS", 'queue "jobs"', "visibilityTimeout"],
      ["NIMBUS_HANDLER_MISSING", 'function "api"', "handler"],
    ]);
    expect((error as GraphError).issues[1]?.message).toMatch(/expected a handler module at src\/api.ts/);
  });

  it("load: says how to fix a folder without an app file", async () => {
    const dir = await appFolder({ "readme.txt": "" });
    const error = await failure(loadApp(dir));
    expect(error.code).toBe("NIMBUS_APP_MISSING");
    expect(error.message).toMatch(/No nimbus.app.ts in .*Create one/);
    expect((await failure(loadApp(join(dir, "nope")))).code).toBe("NIMBUS_APP_DIR_MISSING");
  });

  it("load: says how to fix an app file without a default export", async () => {
    const dir = await appFolder({
      "nimbus.app.ts": `import { App } from "@nimbus/core";\nexport const app = new App("x");`,
    });
    const error = await failure(loadApp(dir));
    expect(error.code).toBe("NIMBUS_APP_EXPORT");
    expect(error.message).toMatch(/must `export default` its App \(found no default export\)/);
  });

  it("load: reports a syntax error with its file and line", async () => {
    const dir = await appFolder({ "nimbus.app.ts": `import { App } from "@nimbus/core";\nconst app = new App("x"\n` });
    const error = await failure(loadApp(dir));
    expect(error.code).toBe("NIMBUS_APP_BUILD");
    expect(error.message).toMatch(/nimbus.app.ts:3:\d+: Expected "\)" but found end of file/);
  });

  it("load: a throw in the app file points at nimbus.app.ts:line:column, not at the removed build", async () => {
    const dir = await appFolder({
      "nimbus.app.ts": `import { App } from "@nimbus/core";
const app = new App("throws");
if (!process.env.NO_SUCH_SETTING) throw new Error("NO_SUCH_SETTING is not set");
export default app;`,
    });
    const error = await failure(loadApp(dir));
    expect(error.code).toBe("NIMBUS_APP_THROW");
    expect(error.message).toMatch(
      /^nimbus\.app\.ts threw while it ran: Error: NO_SUCH_SETTING is not set\n {4}at nimbus\.app\.ts:3:41$/m,
    );
    expect(error.message).not.toMatch(/\.nimbus|node:internal|\.mjs/);
  });

  it("load: a throw in a file the app file imports points at that file's line", async () => {
    const dir = await appFolder({
      "nimbus.app.ts": `import { App } from "@nimbus/core";
import { settings } from "./config/settings";
const app = new App(settings.name);
export default app;`,
      "config/settings.ts": `function read(): { name: string } {
  throw new TypeError("settings.json is missing");
}
export const settings = read();`,
    });
    const error = await failure(loadApp(dir));
    expect(error.message).toMatch(/^nimbus\.app\.ts threw while it ran: TypeError: settings\.json is missing$/m);
    expect(error.message).toMatch(/^ {4}at read \(config\/settings\.ts:2:9\)$/m);
    expect(error.message).toMatch(/^ {4}at config\/settings\.ts:4:25$/m);
  });
});
