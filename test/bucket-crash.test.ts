import { createHash } from "node:crypto";
import { readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { createEmulator } from "@nimbus/emulator";
import { afterEach, describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";
import { startDev } from "./support/dev.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const md5 = (data: string | Uint8Array) => createHash("md5").update(data).digest("hex");

/** The sizes of the files in a bucket's blob folder, by name. */
async function blobSizes(dir: string): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  for (const name of await readdir(dir)) {
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info) sizes.set(name, info.size);
  }
  return sizes;
}

describe("bucket durability: kill -9", () => {
  it("put: a process killed mid-write keeps the old object whole, lists no debris, and leaves no stray file after restart", async () => {
    const copy = await copyFixture("buckets");
    cleanups.push(copy.remove);
    const dev = await startDev(copy.dir);
    cleanups.push(() => {
      dev.child.kill("SIGKILL");
    });
    const put = (key: string, body: string | Uint8Array | ReadableStream<Uint8Array>) =>
      fetch(`${dev.ready.url}/objects/${encodeURIComponent(key)}`, {
        method: "PUT",
        body,
        duplex: "half",
      } as RequestInit);

    // The old version is large, so it lives in a blob file; small objects live in the index.
    const old = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 253);
    expect((await put("victim", old)).status).toBe(200);
    const settled: string[] = [];
    for (let i = 0; i < 50; i++) {
      expect((await put(`small/${i}`, `body ${i}`)).status).toBe(200);
      settled.push(`small/${i}`);
    }
    const blobs = join(copy.dir, ".nimbus", "buckets", "uploads", "blobs");
    const before = await blobSizes(blobs);
    expect(before.size).toBe(1);

    // A new version streams in and stalls half-way; small writes keep landing meanwhile.
    const chunk = new Uint8Array(1024 * 1024).fill(1);
    let sent = 0;
    const stalled = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        // Then never again: the upload hangs until the process dies.
        else return new Promise(() => {});
      },
    });
    const hanging = put("victim", stalled).catch((error: Error) => error);
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const response = await put(`racing/${i}`, `racing ${i}`).catch(() => undefined);
        if (!response) return;
      }
    })();
    let partial: string | undefined;
    for (const deadline = Date.now() + 20_000; !partial; ) {
      if (Date.now() > deadline) throw new Error("timed out waiting for the new version to be half written");
      const sizes = await blobSizes(blobs);
      partial = [...sizes].find(([name, size]) => !before.has(name) && size >= 4 * 1024 * 1024)?.[0];
    }

    dev.child.kill("SIGKILL");
    writing = false;
    await dev.exited;
    await hanging;
    await writer;

    const emu = await createEmulator({ root: copy.dir, state: join(copy.dir, ".nimbus"), watch: false });
    cleanups.push(() => emu.close());
    const bucket = emu.bucket("uploads");
    const victim = await bucket.get("victim");
    expect(victim?.size).toBe(old.byteLength);
    expect(new Uint8Array((await victim?.arrayBuffer()) ?? new ArrayBuffer(0))).toEqual(old);

    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await bucket.list({ cursor });
      listed.push(...page.objects.map((o) => o.key));
      for (const object of page.objects) {
        const stored = await bucket.get(object.key);
        // Every object listed is whole: its body matches the ETag it was listed with.
        expect(md5(new Uint8Array((await stored?.arrayBuffer()) ?? new ArrayBuffer(0))), object.key).toBe(object.etag);
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    for (const key of settled) expect(listed).toContain(key);
    expect(listed.filter((key) => !key.startsWith("small/") && !key.startsWith("racing/"))).toEqual(["victim"]);

    // The start swept the half-written file away; the old version's file is all that is left.
    expect([...(await blobSizes(blobs)).keys()]).toEqual([...before.keys()]);
  }, 60_000);
});
