// What only the emulator can show of a kill -9 mid-write: the half-written blob file it
// leaves is swept away by the next start. What a killed write means to readers (the old
// object whole, every listed object whole) is in test/conformance/buckets.test.ts.
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
  it("start: the half-written blob file of a write cut off by kill -9 is swept away; the old version's file stays", async () => {
    const copy = await copyFixture("buckets");
    cleanups.push(copy.remove);
    const dev = await startDev(copy.dir);
    cleanups.push(() => {
      dev.child.kill("SIGKILL");
    });
    const put = (key: string, body: Uint8Array | ReadableStream<Uint8Array>) =>
      fetch(`${dev.ready.url}/objects/${encodeURIComponent(key)}`, {
        method: "PUT",
        body,
        duplex: "half",
      } as RequestInit);

    // The old version is large, so it lives in a blob file; small objects live in the index.
    const old = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 253);
    expect((await put("victim", old)).status).toBe(200);
    const blobs = join(copy.dir, ".nimbus", "buckets", "uploads", "blobs");
    const before = await blobSizes(blobs);
    expect(before.size).toBe(1);

    // A new version streams in and stalls half-way.
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
    let partial: string | undefined;
    for (const deadline = Date.now() + 20_000; !partial; ) {
      if (Date.now() > deadline) throw new Error("timed out waiting for the new version to be half written");
      const sizes = await blobSizes(blobs);
      partial = [...sizes].find(([name, size]) => !before.has(name) && size >= 4 * 1024 * 1024)?.[0];
    }

    dev.child.kill("SIGKILL");
    await dev.exited;
    await hanging;
    expect([...(await blobSizes(blobs)).keys()]).toContain(partial);

    const emu = await createEmulator({ root: copy.dir, state: join(copy.dir, ".nimbus"), watch: false });
    cleanups.push(() => emu.close());
    expect((await emu.bucket("uploads").head("victim"))?.size).toBe(old.byteLength);
    expect([...(await blobSizes(blobs)).keys()]).toEqual([...before.keys()]);
  }, 60_000);
});
