import { writeFileSync } from "node:fs";
import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { copyFixture, eventually } from "./support/app-copy.ts";

let emu: Emulator;
let dir: string;
let remove: () => Promise<void>;

beforeEach(async () => {
  ({ dir, remove } = await copyFixture("emulator"));
  emu = await createEmulator({ root: dir });
});

afterEach(async () => {
  await emu?.close();
  await remove?.();
});

async function edit(file: string, from: string, to: string): Promise<void> {
  const path = join(dir, file);
  const text = await readFile(path, "utf8");
  if (!text.includes(from)) throw new Error(`${file} does not contain ${from}`);
  await writeFile(path, text.replace(from, to));
}

/** esbuild's service processes this test process started, from Linux's /proc. */
async function esbuildServices(): Promise<number> {
  let count = 0;
  for (const entry of await readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => "");
    // pid (comm) state ppid ...
    const [, comm, ppid] = /^\d+ \((.*)\) \S+ (\d+)/.exec(stat) ?? [];
    if (comm === "esbuild" && Number(ppid) === process.pid) count++;
  }
  return count;
}

const logged = (pattern: RegExp) => () => emu.logs.some((entry) => pattern.test(entry.message));

describe("hot reload", () => {
  it("reload: a changed handler serves new requests, while requests in flight finish on the old code", async () => {
    const inFlight = emu.fetch("/hold");
    await eventually(logged(/^holding$/), "the request to reach the old code");
    await edit("src/hello.ts", 'const version = "v1";', 'const version = "v2";');
    await eventually(logged(/^reloaded hello in \d+ ms$/), "the reload");
    expect(await (await emu.fetch("/instance")).json()).toMatchObject({ version: "v2" });
    expect(await (await inFlight).json()).toEqual({ version: "v1" });
  });

  it("reload: a burst of saves is one reload", async () => {
    const path = join(dir, "src/hello.ts");
    const text = await readFile(path, "utf8");
    // Back to back, as an editor's save (or a formatter after it) writes.
    for (const version of ["b1", "b2", "b3"]) {
      writeFileSync(path, text.replace('const version = "v1";', `const version = "${version}";`));
    }
    await eventually(logged(/^reloaded hello in/), "the reload");
    expect(await (await emu.fetch("/instance")).json()).toMatchObject({ version: "b3" });
    await emu.fetch("/instance");
    expect(emu.logs.filter((e) => /^reloaded hello in/.test(e.message))).toHaveLength(1);
  });

  it("reload: only the functions that include the changed file are rebuilt", async () => {
    const before = await (await emu.fetch("/call/x")).text();
    await edit("src/hello.ts", 'const version = "v1";', 'const version = "v3";');
    await eventually(logged(/^reloaded hello in/), "the reload");
    expect(emu.logs.some((e) => /^reloaded (caller|faulty|upload|limited)/.test(e.message))).toBe(false);
    expect(before).toContain('"version":"v1"');
    expect(await (await emu.fetch("/call/x")).text()).toContain('"version":"v3"');
  });

  it("reload: a broken edit prints file:line and the last good version keeps serving", async () => {
    const { instance } = (await (await emu.fetch("/instance")).json()) as { instance: string };
    await edit("src/hello.ts", 'const version = "v1";', 'const version = "v1"; const = ;');
    await eventually(logged(/does not build/), "the build error");
    const error = emu.logs.find((e) => /does not build/.test(e.message))!;
    expect(error.level).toBe("error");
    expect(error.message).toMatch(/src\/hello\.ts:\d+:\d+: /);
    expect(error.message).toMatch(/still serving the last good version of hello/);
    expect(await (await emu.fetch("/instance")).json()).toEqual({ instance, version: "v1" });
    await edit("src/hello.ts", 'const version = "v1"; const = ;', 'const version = "fixed";');
    await eventually(logged(/^reloaded hello in/), "the fixed reload");
    expect(await (await emu.fetch("/instance")).json()).toMatchObject({ version: "fixed" });
  });

  it("reload: an app-file edit adds a route without restarting any function", async () => {
    const { instance } = (await (await emu.fetch("/instance")).json()) as { instance: string };
    expect((await emu.fetch("/added/1")).status).toBe(404);
    await edit("nimbus.app.ts", '"GET /hold"]', '"GET /hold", "GET /added/:name"]');
    await eventually(logged(/^app reloaded/), "the app reload");
    expect(emu.logs.find((e) => /^app reloaded/.test(e.message))?.message).toBe("app reloaded; no function changed");
    const added = await emu.fetch("/added/1");
    expect(added.status).toBe(200);
    expect(await (await emu.fetch("/instance")).json()).toMatchObject({ instance });
  });

  it("reload: an app-file edit restarts only the function whose spec changed", async () => {
    await edit(
      "nimbus.app.ts",
      'routes: ["GET /limited"],\n  concurrency: 1,',
      'routes: ["GET /limited"],\n  concurrency: 2,',
    );
    await eventually(logged(/^app reloaded/), "the app reload");
    expect(emu.logs.find((e) => /^app reloaded/.test(e.message))?.message).toBe("app reloaded: restarted limited");
  });

  it("reload: an app file with problems keeps the running graph and reports each problem", async () => {
    await edit("nimbus.app.ts", 'routes: ["GET /limited"],', 'routes: ["GET /limited"], timeout: "forever" as never,');
    await eventually(logged(/the app file has problems/), "the report");
    const report = emu.logs.find((e) => /the app file has problems/.test(e.message))!;
    expect(report.message).toMatch(/function "limited", timeout: expected a duration/);
    expect((await emu.fetch("/hello/still")).status).toBe(200);
  });

  it("reload: an app file that throws is reported at nimbus.app.ts:line:column, and the last good version keeps serving", async () => {
    await edit(
      "nimbus.app.ts",
      'const app = new App("emu");',
      'const app = new App("emu");\nthrow new Error("half-typed edit");',
    );
    await eventually(logged(/the app file has problems/), "the report");
    const report = emu.logs.find((e) => /the app file has problems/.test(e.message))!;
    expect(report.message).toMatch(
      /nimbus\.app\.ts threw while it ran: Error: half-typed edit\n {4}at nimbus\.app\.ts:5:7/,
    );
    expect(report.message).not.toMatch(/\.nimbus\/build/);
    expect((await emu.fetch("/hello/still")).status).toBe(200);
  });
});

describe("esbuild's service at rest", () => {
  it("is stopped once nothing was built for a while; a handler edit and an app-file edit start it again", async () => {
    await emu.close();
    emu = await createEmulator({ root: dir, buildServiceIdleMs: 300 });
    await eventually(async () => (await esbuildServices()) === 0, "the service to stop at rest");

    // What /instance answers: the version of the code serving it.
    const serving = async (version: string) => {
      const response = await emu.fetch("/instance");
      const text = await response.text();
      if (response.status !== 200) throw new Error(`/instance answered ${response.status}: ${text}`);
      return (JSON.parse(text) as { version: string }).version === version;
    };
    await edit("src/hello.ts", 'const version = "v1";', 'const version = "rested";');
    await eventually(() => serving("rested"), "the reload after the rest");
    await eventually(async () => (await esbuildServices()) === 0, "the service to stop again");

    await edit("nimbus.app.ts", '"GET /hold"]', '"GET /hold", "GET /added/:name"]');
    await eventually(logged(/^app reloaded/), "the app reload after the rest");
    expect((await emu.fetch("/added/1")).status).toBe(200);
    // A second handler edit: its incremental context was dropped at the rest and is made anew.
    await edit("src/hello.ts", 'const version = "rested";', 'const version = "again";');
    await eventually(() => serving("again"), "the second reload");
  });
});
