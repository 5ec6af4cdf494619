// What a handler's failure looks like to its author: the 500's body and the log show
// their frames, not the emulator's; a body cut off for its size is logged as the 413 it is.
import { join } from "node:path";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";
import { runCliAsync } from "./support/cli.ts";

const emulatorFrames = /worker\.ts|invoker\.ts|MessagePort|node:internal|emulator\/src/;

describe("a handler's errors", () => {
  let emu: Emulator;
  let remove: () => Promise<void>;
  beforeAll(async () => {
    const copy = await copyFixture("emulator");
    remove = copy.remove;
    emu = await createEmulator({ root: copy.dir, watch: false });
  });
  afterAll(async () => {
    await emu?.close();
    await remove?.();
  });

  it("crash: a throw's 500 body and its log line show the author's frames, not the emulator's", async () => {
    const response = await emu.fetch("/throw");
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(body).toMatch(
      /^function "faulty" threw: Error: handler threw on purpose\n {4}at Object\.fetch \(.*src\/faulty\.ts:8:15\)\n$/,
    );
    expect(body).not.toMatch(emulatorFrames);
    const logged = emu.logs.findLast((e) => e.fn === "faulty" && e.level === "error");
    expect(logged?.message).toMatch(
      /^Error: handler threw on purpose\n {4}at Object\.fetch \(.*src\/faulty\.ts:8:15\)$/,
    );
  });

  it("crash: with NIMBUS_DEBUG=1 the emulator's frames are shown too", async () => {
    process.env.NIMBUS_DEBUG = "1";
    try {
      const body = await (await emu.fetch("/throw")).text();
      expect(body).toMatch(/src\/faulty\.ts:8:15/);
      expect(body).toMatch(/worker\.ts:\d+:\d+/);
    } finally {
      delete process.env.NIMBUS_DEBUG;
    }
  });

  it("a response the server cannot write is a logged 500 over real HTTP, and the emulator keeps serving", async () => {
    const response = await fetch(`${emu.url}/odd-header`);
    expect(response.status).toBe(500);
    await response.arrayBuffer();
    const logged = emu.logs.findLast((e) => e.level === "error" && e.message.startsWith("answering GET /odd-header"));
    expect(logged?.message).toMatch(/failed: TypeError.*Invalid character in header content \["x-odd"\]/);
    expect((await fetch(`${emu.url}/ok`)).status).toBe(200);
  });

  /** A chunked upload of 100 KiB, 8 KiB a chunk, each chunk after `pace` (a slow client's body reaches the handler as a stream). */
  function upload(pace?: () => Promise<void>): ReadableStream<Uint8Array> {
    let sent = 0;
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= 100 * 1024) return controller.close();
        await pace?.();
        sent += 8 * 1024;
        controller.enqueue(new Uint8Array(8 * 1024));
      },
    });
  }

  it.each([
    ["at once", undefined],
    ["slowly", () => new Promise<void>((resolve) => setImmediate(resolve))],
  ])(
    "maxBodySize: a chunked body past the limit, sent %s to a handler that reads it whole, is logged as 413, as the client gets it",
    async (_, pace) => {
      const mark = emu.logs.length;
      const response = await emu.fetch("/echo", {
        method: "POST",
        headers: { "x-read": "whole" },
        body: upload(pace),
        duplex: "half",
      } as RequestInit);
      expect(response.status).toBe(413);
      const requests = emu.logs.slice(mark).filter((e) => e.fn === "upload" && /^POST \/echo /.test(e.message));
      expect(requests.map((e) => e.message)).toEqual([expect.stringMatching(/^POST \/echo 413 \d+ms$/)]);
    },
  );
});

describe("nimbus invoke of a function without fetch", () => {
  let emu: Emulator;
  let dir: string;
  let remove: () => Promise<void>;
  beforeAll(async () => {
    ({ dir, remove } = await copyFixture("queues"));
    emu = await createEmulator({ root: dir, state: join(dir, ".nimbus"), watch: false, clock: "manual" });
  });
  afterAll(async () => {
    await emu?.close();
    await remove?.();
  });

  it("invoke: answers 500 saying the function has no fetch, without the emulator's frames", async () => {
    const result = await runCliAsync(["invoke", dir, "worker"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe("500 Internal Server Error\n");
    expect(result.stdout).toBe(
      'function "worker" threw: Error: function "worker" has no fetch handler in its default export\n',
    );
  });
});
