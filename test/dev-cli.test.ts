import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { copyFixture, eventually } from "./support/app-copy.ts";
import { runCli } from "./support/cli.ts";
import { startDev as startDevProcess } from "./support/dev.ts";

const children: ChildProcess[] = [];
const copies: (() => Promise<void>)[] = [];

async function startDev(dir: string, extra: string[] = []) {
  const dev = await startDevProcess(dir, extra);
  children.push(dev.child);
  return dev;
}

afterEach(async () => {
  for (const child of children.splice(0)) child.kill("SIGKILL");
  await Promise.all(copies.splice(0).map((remove) => remove()));
});

describe("nimbus dev and nimbus invoke", () => {
  it("dev: serves the app on 127.0.0.1, writes .nimbus/emulator.json, and stops cleanly on SIGTERM", async () => {
    const copy = await copyFixture("emulator");
    copies.push(copy.remove);
    const dev = await startDev(copy.dir);
    expect(dev.ready.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(dev.ready.app).toBe("emu");
    const infoPath = join(copy.dir, ".nimbus", "emulator.json");
    expect(existsSync(infoPath)).toBe(true);

    const response = await fetch(`${dev.ready.url}/hello/cli`);
    expect(await response.json()).toMatchObject({ message: "hello cli" });

    const invoked = runCli(["invoke", copy.dir, "hello", "--path", "/hello/invoked"]);
    expect(invoked.status).toBe(0);
    expect(invoked.stderr).toBe("200 OK\n");
    expect(JSON.parse(invoked.stdout)).toMatchObject({ message: "hello invoked" });

    // A request in flight when SIGTERM arrives still gets its answer.
    const held = fetch(`${dev.ready.url}/hold`).then((r) => r.json());
    await eventually(() => dev.stdout.some((line) => line.includes('"message":"holding"')), "the request to start");
    dev.child.kill("SIGTERM");
    expect(await held).toEqual({ version: "v1" });
    expect(await dev.exited).toBe(0);
    expect(existsSync(infoPath)).toBe(false);
    const logLines = dev.stdout.map((line) => JSON.parse(line) as { message?: string; fn?: string });
    expect(logLines).toContainEqual(
      expect.objectContaining({ fn: "hello", message: expect.stringMatching(/^GET \/hello\/cli 200/) }),
    );
  });

  it("invoke: reports a function the app does not have, and exits 1", async () => {
    const copy = await copyFixture("emulator");
    copies.push(copy.remove);
    const dev = await startDev(copy.dir);
    const result = runCli(["invoke", copy.dir, "--url", dev.ready.url, "nope"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^✖ App "emu" has no function "nope" \(its functions: /);
  });

  it("invoke: says how to start an emulator when none is running", () => {
    const result = runCli(["invoke", "test/fixtures/emulator", "hello"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(
      /No emulator is running for test\/fixtures\/emulator.*nimbus dev test\/fixtures\/emulator/,
    );
  });

  it("dev: a second nimbus dev on the same folder refuses, naming the running one's pid and port", async () => {
    const copy = await copyFixture("emulator");
    copies.push(copy.remove);
    const first = await startDev(copy.dir);
    const port = new URL(first.ready.url).port;
    const second = runCli(["dev", copy.dir, "--port", "0"]);
    expect(second.status).toBe(1);
    expect(second.stderr).toContain(
      `✖ An emulator already runs for ${copy.dir} (pid ${first.ready.pid}, port ${port}, `,
    );
    // The first keeps its emulator.json, so the commands still reach it.
    const info = JSON.parse(readFileSync(join(copy.dir, ".nimbus", "emulator.json"), "utf8")) as { pid: number };
    expect(info.pid).toBe(first.ready.pid);
    const invoked = runCli(["invoke", copy.dir, "hello", "--path", "/hello/first"]);
    expect(invoked.status, invoked.stderr).toBe(0);
    expect(JSON.parse(invoked.stdout)).toMatchObject({ message: "hello first" });
  });

  it("dev: an app file that throws is reported at nimbus.app.ts:line:column, source-mapped, without the build's path", async () => {
    const copy = await copyFixture("emulator");
    copies.push(copy.remove);
    const file = join(copy.dir, "nimbus.app.ts");
    const source = readFileSync(file, "utf8").replace(
      'const app = new App("emu");',
      'const app = new App("emu");\nif (!process.env.SHOP_REGION) throw new Error("SHOP_REGION is not set");',
    );
    writeFileSync(file, source);
    const result = runCli(["dev", copy.dir, "--port", "0"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      "✖ nimbus.app.ts threw while it ran: Error: SHOP_REGION is not set\n    at nimbus.app.ts:5:37\n",
    );
  });

  it("dev: a port in use and an app with errors each exit 1 with a clear message", async () => {
    const copy = await copyFixture("emulator");
    copies.push(copy.remove);
    const dev = await startDev(copy.dir);
    const port = new URL(dev.ready.url).port;
    // Another app on the same port (the same app would be refused as already running).
    const other = await copyFixture("emulator");
    copies.push(other.remove);
    const busy = runCli(["dev", other.dir, "--port", port]);
    expect(busy.status).toBe(1);
    expect(busy.stderr).toMatch(new RegExp(`\n✖ Port ${port} on 127.0.0.1 is in use \\(another nimbus dev\\?\\)`));
    const broken = runCli(["dev", "test/fixtures/broken", "--port", "0"]);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/^✖ 3 problems in the app:/);
    const missing = runCli(["dev", "test/fixtures/none", "--port", "0"]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^✖ No folder at .*test\/fixtures\/none/);
  });

  it("dev: --allowed-hosts adds host names; any other name gets 403 naming the option", async () => {
    const copy = await copyFixture("emulator");
    copies.push(copy.remove);
    const dev = await startDev(copy.dir, ["--allowed-hosts", "app.test,.dev.example"]);
    /** A GET with a Host header of our choosing, which fetch does not send. */
    const statusFor = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const sent = request(`${dev.ready.url}/hello/ada`, { headers: { host } }, (response) => {
          let body = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => {
            body += chunk;
          });
          response.on("end", () => resolve({ status: response.statusCode!, body }));
        });
        sent.on("error", reject);
        sent.end();
      });
    expect((await statusFor("app.test")).status).toBe(200);
    expect((await statusFor("a.dev.example:8787")).status).toBe(200);
    expect((await statusFor("localhost")).status).toBe(200);
    const refused = await statusFor("evil.example");
    expect(refused.status).toBe(403);
    expect(JSON.parse(refused.body).error).toMatchObject({
      code: "NIMBUS_EMULATOR_HOST",
      message: expect.stringContaining("nimbus dev --allowed-hosts evil.example"),
    });
    const bad = runCli(["dev", copy.dir, "--port", "0", "--allowed-hosts", "a.test,http://b.test"]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/--allowed-hosts expects host names separated by commas .*found "http:\/\/b\.test"/);
  });
});
