import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
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
    const result = runCli(["invoke", "--url", dev.ready.url, "nope"]);
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

  it("dev: a port in use and an app with errors each exit 1 with a clear message", async () => {
    const copy = await copyFixture("emulator");
    copies.push(copy.remove);
    const dev = await startDev(copy.dir);
    const port = new URL(dev.ready.url).port;
    const busy = runCli(["dev", copy.dir, "--port", port]);
    expect(busy.status).toBe(1);
    expect(busy.stderr).toMatch(new RegExp(`\n✖ Port ${port} on 127.0.0.1 is in use \\(another nimbus dev\\?\\)`));
    const broken = runCli(["dev", "test/fixtures/broken", "--port", "0"]);
    expect(broken.status).toBe(1);
    expect(broken.stderr).toMatch(/^✖ 3 problems in the app:/);
    const missing = runCli(["dev", "test/fixtures/none", "--port", "0"]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^✖ No folder at .*test\/fixtures\/none/);
  });
});
