// What only the emulator can show of the bucket binding: memory use while streaming, its
// files on disk, its worker messages, and `emu.bucket()` / `emu.reset()` themselves. Every
// method of the binding and its errors are in test/conformance/buckets.test.ts.
import { createHash } from "node:crypto";
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";

let emu: Emulator;
let root: string;
let remove: () => Promise<void>;

beforeAll(async () => {
  const copy = await copyFixture("buckets");
  root = copy.dir;
  remove = copy.remove;
  emu = await createEmulator({ root, watch: false, clock: "manual" });
});

afterAll(async () => {
  await emu?.close();
  await remove?.();
});

/** Runs a binding method inside the `files` function and returns its JSON answer. */
async function call(method: string, ...args: unknown[]): Promise<{ result?: any; error?: any } & Record<string, any>> {
  const response = await emu.fetch("/call", { method: "POST", body: JSON.stringify({ method, args }) });
  return json(response);
}

function getObject(key: string, headers: Record<string, string> = {}): Promise<Response> {
  return emu.fetch(`/objects/${encodeURIComponent(key)}`, { headers });
}

/** A response's JSON, as the loosely typed value these checks take apart. */
const json = (response: Response): Promise<any> => response.json();

describe("bucket binding: in the emulator", () => {
  it("put: a 1 GiB stream goes through without the object sitting in memory", async () => {
    const chunk = new Uint8Array(1024 * 1024).map((_, i) => (i * 7) % 256);
    const chunks = 1024;
    const expected = createHash("md5");
    for (let i = 0; i < chunks; i++) expected.update(chunk);
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sample = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    try {
      let sent = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ === chunks) controller.close();
          else controller.enqueue(chunk);
        },
      });
      const put = await emu.fetch("/objects/huge", { method: "PUT", body, duplex: "half" } as RequestInit);
      expect((await json(put)).size).toBe(1024 ** 3);

      const got = await getObject("huge");
      const hash = createHash("md5");
      let size = 0;
      for await (const part of got.body as unknown as AsyncIterable<Uint8Array>) {
        hash.update(part);
        size += part.byteLength;
      }
      expect(size).toBe(1024 ** 3);
      expect(hash.digest("hex")).toBe(expected.digest("hex"));
    } finally {
      clearInterval(sample);
    }
    // The emulator, its workers and this test share the process: 1 GiB held anywhere would show.
    expect(peak - baseline).toBeLessThan(256 * 1024 * 1024);
    await call("delete", "huge");
  }, 120_000);

  it("put: nothing is written outside the bucket's folder, and no file is named after a key", async () => {
    // Small bodies live in the index, large ones (over 64 KiB) in blob files.
    for (const key of ["../escape", "../../../../etc/passwd", "/leading", "a/../b", "%2e%2e%2f", ".."]) {
      expect((await call("put", `keys/${key}`, "x")).error, key).toBeUndefined();
      expect((await call("put", `large/${key}`, "x".repeat(100_000))).error, key).toBeUndefined();
    }
    const stateEntries = (await readdir(emu.state)).sort();
    expect(stateEntries).toEqual(["buckets", "build", "credentials.json", "emulator.json", "queues"]);
    expect((await readdir(join(emu.state, "buckets"))).sort()).toEqual(["archive", "uploads"]);
    const bucketFiles = (await readdir(join(emu.state, "buckets", "uploads"))).sort();
    expect(bucketFiles.filter((name) => !/^index\.sqlite(-wal|-shm)?$/.test(name))).toEqual(["blobs"]);
    const blobs = await readdir(join(emu.state, "buckets", "uploads", "blobs"));
    expect(blobs.length).toBeGreaterThanOrEqual(6);
    for (const name of blobs) expect(name).toMatch(/^[0-9a-f]{32}$/);
    expect(await readdir(join(emu.state, "buckets", "archive", "blobs"))).toEqual([]);
  });

  it("call: a forged presign message for a bucket the function did not link is refused", async () => {
    const answer = await json(await emu.fetch("/outsider/forge"));
    expect(answer).toMatchObject({
      type: "reply",
      error: { message: 'function "outsider" has no link named "uploads"' },
    });
    expect(answer).not.toHaveProperty("response");
  });
});

describe("emu.bucket", () => {
  it("bucket: a body is read once; a second read says to get it again", async () => {
    await emu.bucket("uploads").put("once", "x");
    const object = await emu.bucket("uploads").get("once");
    await object?.text();
    await expect(object?.text()).rejects.toThrow(
      'bucket "uploads", key "once": the body of this object was already read',
    );
  });

  it("bucket: an unknown bucket is an error listing the app's buckets", () => {
    expect(() => emu.bucket("nope")).toThrow('App "buckets" has no bucket "nope" (its buckets: "archive", "uploads").');
  });

  it("reset: empties every bucket; functions keep working on the emptied bucket", async () => {
    const state = join(root, ".nimbus-reset");
    const local = await createEmulator({ root, watch: false, state });
    try {
      await local.bucket("uploads").put("gone", "soon");
      await local.reset();
      expect(await local.bucket("uploads").get("gone")).toBeNull();
      const response = await local.fetch("/call", {
        method: "POST",
        body: JSON.stringify({ method: "put", args: ["after-reset", "ok"] }),
      });
      expect((await json(response)).result.size).toBe(2);
    } finally {
      await local.close();
    }
  });
});
