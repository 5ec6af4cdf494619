// What only the emulator can show of docs/semantics.md "Bucket notifications": its
// transactional outbox on disk (a change recorded while it stopped) and its log lines. Every
// other statement is in test/conformance/notifications.test.ts, run on every target.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { BucketEventDetail, NimbusEvent } from "@nimbus/core";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, describe, expect, it } from "vitest";
import type { WriterOp } from "./fixtures/notifications/nimbus.app.ts";
import { emulatorSuite } from "./support/suite.ts";

let emu: Emulator;
let s3: S3Client;
let root: string;
/** What a test started beside the suite's emulator, undone after it. */
const cleanups: (() => Promise<unknown> | unknown)[] = [];
emulatorSuite("notifications", {
  started: (started, dir) => {
    emu = started;
    root = dir;
    s3 = new S3Client({
      endpoint: emu.s3.endpoint,
      region: emu.s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: emu.s3.accessKeyId, secretAccessKey: emu.s3.secretAccessKey },
    });
  },
  beforeReset: async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  },
});
afterAll(() => s3?.destroy());

type BucketEvent = NimbusEvent<BucketEventDetail>;

/** The events the queue `queue` got, in order (`recorder` keeps them in `log/<queue>`), once `on` is idle. */
async function events(queue: "seen" | "audited" | "checked" = "seen", on = emu): Promise<BucketEvent[]> {
  await on.idle();
  const stored = await on.bucket("results").get(`log/${queue}`);
  return stored ? stored.json<BucketEvent[]>() : [];
}

/** `+inbox/a.txt PutObject`, `-inbox/a.txt DeleteObject`: an event in one line. */
function brief(event: BucketEvent): string {
  const sign = { "Object Created": "+", "Object Deleted": "-" }[event["detail-type"]] ?? `${event["detail-type"]} `;
  return `${sign}${event.detail.bucket.name}/${event.detail.object.key} ${event.detail.reason}`;
}

/** The events of `queue`, each in one line. */
const briefs = async (queue?: "seen" | "audited" | "checked", on = emu) => (await events(queue, on)).map(brief);

/** Runs one operation in `writer`, through the bucket binding in its worker; answers its status. */
async function write(op: WriterOp): Promise<number> {
  return (await emu.fetch("/op", { method: "POST", body: JSON.stringify(op) })).status;
}

const md5 = (data: string | Uint8Array) => createHash("md5").update(data).digest("hex");

/** The log messages written since `mark` (an earlier `logs.length`) that match. */
const loggedSince = (mark: number, pattern: RegExp, on = emu) =>
  on.logs.slice(mark).filter((entry) => pattern.test(entry.message));

/** A state folder of its own, removed after the test. */
async function stateDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "nimbus-notify-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** An emulator of the suite's app on `state`, closed after the test unless closed before. */
async function start(state: string): Promise<Emulator> {
  const started = await createEmulator({ root, state, watch: false, clock: "manual" });
  cleanups.push(() => started.close());
  return started;
}

interface Change {
  event: "created" | "deleted";
  reason: BucketEventDetail["reason"];
  key: string;
  /** The body written; for a deletion, the deleted object's. */
  body: string;
  time: number;
}

/**
 * Writes what a process killed between a commit and its notification leaves in a
 * stopped emulator's bucket: the object changed and, in the same transaction, the change
 * in the bucket's outbox. Tests use public exports only, so this writes the tables of
 * emulator/src/plugins/bucket/store.ts as its `BucketStore` does; keep the two in step.
 */
function recordWhileStopped(state: string, bucket: string, changes: Change[]): void {
  const db = new DatabaseSync(join(state, "buckets", bucket, "index.sqlite"));
  try {
    db.exec("BEGIN IMMEDIATE");
    for (const change of changes) {
      const key = Buffer.from(change.key);
      const size = Buffer.byteLength(change.body);
      if (change.event === "created") {
        db.prepare(
          `INSERT INTO objects (key, size, etag, content_type, metadata, headers, uploaded, body, blobs)
           VALUES (?, ?, ?, 'text/plain', '{}', '{}', ?, ?, NULL)
           ON CONFLICT (key) DO UPDATE SET size = excluded.size, etag = excluded.etag, uploaded = excluded.uploaded, body = excluded.body`,
        ).run(key, size, md5(change.body), change.time, Buffer.from(change.body));
      } else {
        db.prepare("DELETE FROM objects WHERE key = ?").run(key);
      }
      db.prepare("INSERT INTO outbox (event, reason, key, size, etag, time) VALUES (?, ?, ?, ?, ?, ?)").run(
        change.event,
        change.reason,
        key,
        size,
        md5(change.body),
        change.time,
      );
    }
    db.exec("COMMIT");
  } finally {
    db.close();
  }
}

describe("bucket notifications: at least once", () => {
  it("restart: a change recorded while the emulator stopped is put on the bus after the start, with the change's time (§notifications/6)", async () => {
    const state = await stateDir();
    await (await start(state)).close();
    const at = Date.UTC(2031, 1, 3, 4, 5, 6, 789);
    recordWhileStopped(state, "inbox", [
      { event: "created", reason: "PutObject", key: "offline.txt", body: "written, not notified", time: at },
    ]);

    const restarted = await start(state);
    expect(await events("seen", restarted)).toEqual([
      expect.objectContaining({
        "detail-type": "Object Created",
        source: "nimbus.bucket",
        resources: ["inbox"],
        time: "2031-02-03T04:05:06Z",
        detail: {
          bucket: { name: "inbox" },
          object: { key: "offline.txt", size: 21, etag: md5("written, not notified") },
          reason: "PutObject",
        },
      }),
    ]);
    // Put once: the outbox is empty after it.
    await restarted.close();
    const again = await start(state);
    expect((await events("seen", again)).map(brief)).toEqual(["+inbox/offline.txt PutObject"]);
  });

  it("restart: a change whose event was put but not yet cleaned up is put again (§notifications/6)", async () => {
    const state = await stateDir();
    const first = await start(state);
    await first.bucket("inbox").put("twice.txt", "at least once");
    const [event] = await events("seen", first);
    expect(event?.detail.object.key).toBe("twice.txt");
    const time = first.clock.now();
    await first.close();
    // What a stop between the put and its cleanup leaves: the change still in the outbox.
    recordWhileStopped(state, "inbox", [
      { event: "created", reason: "PutObject", key: "twice.txt", body: "at least once", time },
    ]);

    const restarted = await start(state);
    const got = await events("seen", restarted);
    expect(got.map(brief)).toEqual(["+inbox/twice.txt PutObject", "+inbox/twice.txt PutObject"]);
    expect(got[1]?.detail).toEqual(event?.detail);
  });
});

describe("bucket notifications: refused events", () => {
  it("put: an event the bus refuses is logged as an error naming the bucket, key and bus, once (§notifications/7)", async () => {
    const mark = emu.logs.length;
    await emu.bucket("guarded").put("refused.txt", "r");
    expect(await write({ op: "put", bucket: "guarded", key: "refused-too.txt", body: "r" })).toBe(200);
    // A change the bus takes logs no error.
    await emu.bucket("guarded").delete("refused.txt");
    await emu.idle();
    const errors = loggedSince(mark, /guarded/).filter((entry) => entry.level === "error");
    expect(errors).toHaveLength(2);
    for (const [entry, key] of [
      [errors[0], "refused.txt"],
      [errors[1], "refused-too.txt"],
    ] as const) {
      expect(entry?.message).toContain("guarded");
      expect(entry?.message).toContain(key);
      expect(entry?.message).toContain("strict");
    }
  });

  it("restart: a refused change drops only its own event, not the accepted changes notified with it (§notifications/7)", async () => {
    const state = await stateDir();
    const first = await start(state);
    await first.bucket("guarded").put("kept.txt", "kept");
    await first.close();
    // Changes waiting together, as a burst of writes leaves them: a refused one between two the bus takes.
    const time = Date.now();
    recordWhileStopped(state, "guarded", [
      { event: "deleted", reason: "DeleteObject", key: "kept.txt", body: "kept", time },
      { event: "created", reason: "PutObject", key: "new.txt", body: "new", time },
      { event: "deleted", reason: "DeleteObject", key: "new.txt", body: "new", time },
    ]);

    const restarted = await start(state);
    expect(await briefs("checked", restarted)).toEqual([
      "-guarded/kept.txt DeleteObject",
      "-guarded/new.txt DeleteObject",
    ]);
    const errors = restarted.logs.filter((entry) => entry.level === "error" && entry.message.includes("guarded"));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toContain('"new.txt"');
    expect(errors[0]?.message).not.toContain("kept.txt");
  });
});

describe("bucket notifications: reload", () => {
  it("reload: writes while a reload adds a notification to a new bus log no refusal (§notifications/8)", async () => {
    const mark = emu.logs.length;
    const file = join(root, "nimbus.app.ts");
    const original = await readFile(file, "utf8");
    const edited = original
      .replace(
        'export const plain = app.bucket("plain");',
        [
          'export const plain = app.bucket("plain");',
          'export const fresh = app.bus("fresh");',
          'fresh.rule("all", { pattern: { source: ["nimbus.bucket"] }, targets: [seen] });',
          "plain.notify(fresh);",
        ].join("\n"),
      )
      // A changed function, so the reload restarts it (and takes a while) after it opened the buckets.
      .replace('routes: ["POST /op"],', 'routes: ["POST /op"],\n  timeout: "20s",');
    expect(edited).not.toBe(original);
    await writeFile(file, edited);
    cleanups.push(async () => {
      await writeFile(file, original);
      await emu.reload();
    });
    let reloading = true;
    const reloaded = emu.reload().finally(() => {
      reloading = false;
    });
    const during: string[] = [];
    while (reloading) {
      const key = `during/${during.length}`;
      await s3.send(new PutObjectCommand({ Bucket: "plain", Key: key, Body: key }));
      during.push(key);
    }
    await reloaded;
    await emu.idle();
    expect(during.length).toBeGreaterThan(0);
    expect(loggedSince(mark, /bucket plain/).filter((entry) => entry.level === "error")).toEqual([]);
  });
});
