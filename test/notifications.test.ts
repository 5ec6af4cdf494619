// The bucket notification contract of docs/semantics.md ("Bucket notifications"), driven
// through the emulator with a manual clock. Every write path is used: a function's binding
// (over HTTP, in its worker), the S3 endpoint with the real SDK, presigned URLs and
// `emu.bucket()`. The fixture's rules hand every event to a queue whose consumer appends
// it to a log, so a test reads the exact events, in the order they came.
import { createHash } from "node:crypto";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import type { BucketEventDetail, NimbusEvent } from "@nimbus/core";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";
import { startDev } from "./support/dev.ts";
import { editApp, emulatorSuite, restartOnDevState } from "./support/suite.ts";

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
type BucketName = "inbox" | "photos" | "ledger" | "guarded" | "plain";

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

/** Runs one operation in `writer`, through the bucket binding in its worker; answers its status and JSON. */
async function write(
  op:
    | { op: "put"; bucket: BucketName; key: string; body: string; ifAbsent?: boolean }
    | { op: "puts"; bucket: BucketName; keys: string[] }
    | { op: "delete"; bucket: BucketName; keys: string[] }
    | { op: "copy"; bucket: BucketName; from: string; key: string },
  on: { fetch: (path: string, init: RequestInit) => Promise<Response> } = emu,
): Promise<{ status: number; body: any }> {
  const response = await on.fetch("/op", { method: "POST", body: JSON.stringify(op) });
  return { status: response.status, body: await response.json() };
}

/** The S3 error a command fails with: its code and HTTP status. */
async function failure(promise: Promise<unknown>): Promise<{ code: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof S3ServiceException) return { code: error.name, status: error.$metadata.httpStatusCode };
    throw error;
  }
  throw new Error("expected the command to fail");
}

const md5 = (data: string | Uint8Array) => createHash("md5").update(data).digest("hex");
/** An ISO time to the second, as EventBridge writes `time`. */
const toSecond = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

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

describe("bucket notifications: which changes notify", () => {
  it("put, delete: a bucket notifying both kinds puts one event per object created and per object deleted (§notifications/1)", async () => {
    const inbox = emu.bucket("inbox");
    await inbox.put("a.txt", "a");
    await inbox.put("b.txt", "b");
    await inbox.delete("a.txt");
    expect(await briefs()).toEqual(["+inbox/a.txt PutObject", "+inbox/b.txt PutObject", "-inbox/a.txt DeleteObject"]);
  });

  it("notify: only changes of a kind in `events`, to keys with the `prefix` and the `suffix`, put an event (§notifications/1)", async () => {
    const photos = emu.bucket("photos");
    for (const key of ["uploads/cat.jpg", "uploads/cat.png", "thumbs/uploads/cat.jpg", "uploads/cat.jpg.tmp"]) {
      await photos.put(key, key);
    }
    await s3.send(new PutObjectCommand({ Bucket: "photos", Key: "uploads/dog.jpg", Body: "dog" }));
    // Only "created": deleting a matching key puts nothing.
    await photos.delete(["uploads/cat.jpg", "uploads/dog.jpg"]);
    expect(await briefs()).toEqual(["+photos/uploads/cat.jpg PutObject", "+photos/uploads/dog.jpg PutObject"]);
  });

  it("notify: a change matching two notify calls puts one event for each, on each one's bus (§notifications/1)", async () => {
    const ledger = emu.bucket("ledger");
    await ledger.put("notes.txt", "1");
    await ledger.put("2030.csv", "2");
    await ledger.put("dup/x.txt", "3");
    await ledger.delete("2030.csv");
    // main: every change; main again: dup/; audit: .csv.
    expect(await briefs("seen")).toEqual([
      "+ledger/notes.txt PutObject",
      "+ledger/2030.csv PutObject",
      "+ledger/dup/x.txt PutObject",
      "+ledger/dup/x.txt PutObject",
      "-ledger/2030.csv DeleteObject",
    ]);
    expect(await briefs("audited")).toEqual(["+ledger/2030.csv PutObject", "-ledger/2030.csv DeleteObject"]);
  });

  it("put: a bucket without notify puts no event (§notifications/1)", async () => {
    await emu.bucket("plain").put("quiet.txt", "shh");
    expect((await write({ op: "put", bucket: "plain", key: "quiet-too.txt", body: "shh" })).status).toBe(200);
    await s3.send(new DeleteObjectCommand({ Bucket: "plain", Key: "quiet.txt" }));
    expect([...(await events("seen")), ...(await events("audited")), ...(await events("checked"))]).toEqual([]);
  });
});

describe("bucket notifications: the event", () => {
  it("put: the event is shaped as EventBridge's: source nimbus.bucket, Object Created, the bucket as resource, the change's time to the second, the object's key, size and ETag (§notifications/2)", async () => {
    await emu.clock.advance(1234);
    const at = emu.clock.now();
    const stored = await emu.bucket("inbox").put("reports/q1.json", '{"total":42}');
    expect(await events()).toEqual([
      {
        version: "0",
        id: expect.stringMatching(uuid),
        "detail-type": "Object Created",
        source: "nimbus.bucket",
        account: "000000000000",
        time: toSecond(at),
        region: "local",
        resources: ["inbox"],
        detail: {
          bucket: { name: "inbox" },
          object: { key: "reports/q1.json", size: 12, etag: md5('{"total":42}') },
          reason: "PutObject",
        },
      },
    ]);
    expect(stored.etag).toBe(md5('{"total":42}'));
  });

  it("delete: Object Deleted carries the deleted object's size and ETag, and the time of the delete (§notifications/2)", async () => {
    const inbox = emu.bucket("inbox");
    await inbox.put("old.bin", "twelve bytes");
    // Its event handed to the recorder first: time also runs out the queue's visibility timeout.
    await emu.idle();
    await emu.clock.advance("90s");
    const deletedAt = emu.clock.now();
    await inbox.delete("old.bin");
    const [created, deleted] = await events();
    expect(deleted).toMatchObject({
      "detail-type": "Object Deleted",
      source: "nimbus.bucket",
      resources: ["inbox"],
      time: toSecond(deletedAt),
      detail: {
        bucket: { name: "inbox" },
        object: { key: "old.bin", size: 12, etag: md5("twelve bytes") },
        reason: "DeleteObject",
      },
    });
    expect(created?.time).toBe(toSecond(deletedAt - 90_000));
    expect(deleted?.id).not.toBe(created?.id);
    expect(await events()).toHaveLength(2);
  });

  it("CopyObject: the event's reason is CopyObject, with the copy's size and ETag; a copy from another bucket notifies the target bucket (§notifications/2)", async () => {
    await emu.bucket("plain").put("source.txt", "copied body");
    await s3.send(new CopyObjectCommand({ Bucket: "inbox", Key: "copy.txt", CopySource: "plain/source.txt" }));
    await s3.send(new CopyObjectCommand({ Bucket: "inbox", Key: "copy-of-copy.txt", CopySource: "inbox/copy.txt" }));
    const got = await events();
    expect(got.map(brief)).toEqual(["+inbox/copy.txt CopyObject", "+inbox/copy-of-copy.txt CopyObject"]);
    for (const event of got) expect(event.detail.object).toMatchObject({ size: 11, etag: md5("copied body") });
  });

  it("CompleteMultipartUpload: one event once the upload completes, with the whole object's size and multipart ETag (§notifications/2)", async () => {
    const first = new Uint8Array(5 * 1024 * 1024).fill(7);
    const last = new TextEncoder().encode("the end");
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: "inbox", Key: "big.bin" }));
    const parts = [];
    for (const [index, body] of [first, last].entries()) {
      const part = await s3.send(
        new UploadPartCommand({ Bucket: "inbox", Key: "big.bin", UploadId, PartNumber: index + 1, Body: body }),
      );
      parts.push({ PartNumber: index + 1, ETag: part.ETag });
    }
    // Parts are no change of an object: nothing yet.
    expect(await events()).toEqual([]);
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: "inbox",
        Key: "big.bin",
        UploadId,
        MultipartUpload: { Parts: parts },
      }),
    );
    const etag = `${md5(Buffer.concat([first, last].map((part) => Buffer.from(md5(part), "hex"))))}-2`;
    const got = await events();
    expect(got.map(brief)).toEqual(["+inbox/big.bin CompleteMultipartUpload"]);
    expect(got[0]?.detail.object).toEqual({ key: "big.bin", size: first.byteLength + last.byteLength, etag });
  });
});

describe("bucket notifications: every write path", () => {
  it("binding: put, copy (get then put) and delete in a function notify, before the call returns, at the emulator's time (§notifications/3)", async () => {
    // Far from the system's time: a worker's writes carry the emulator's clock.
    await emu.clock.advance("2h");
    const put = await write({ op: "put", bucket: "inbox", key: "fn/a.txt", body: "from the worker" });
    expect(put).toEqual({ status: 200, body: { size: 15, etag: md5("from the worker") } });
    expect((await write({ op: "copy", bucket: "inbox", from: "fn/a.txt", key: "fn/b.txt" })).status).toBe(200);
    expect((await write({ op: "delete", bucket: "inbox", keys: ["fn/a.txt", "fn/b.txt"] })).status).toBe(200);
    const got = await events();
    expect(got.map(brief)).toEqual([
      "+inbox/fn/a.txt PutObject",
      "+inbox/fn/b.txt PutObject",
      "-inbox/fn/a.txt DeleteObject",
      "-inbox/fn/b.txt DeleteObject",
    ]);
    for (const event of got) {
      expect(event.detail.object).toMatchObject({ size: 15, etag: md5("from the worker") });
      expect(event.time).toBe(toSecond(emu.clock.now()));
    }
  });

  it("S3: PutObject, DeleteObject and DeleteObjects notify; DeleteObjects puts one event per object deleted (§notifications/3)", async () => {
    await emu.clock.advance("3h");
    for (const key of ["s3/a", "s3/b", "s3/c"]) {
      await s3.send(new PutObjectCommand({ Bucket: "inbox", Key: key, Body: `body of ${key}` }));
    }
    await s3.send(new DeleteObjectCommand({ Bucket: "inbox", Key: "s3/a" }));
    await s3.send(
      new DeleteObjectsCommand({ Bucket: "inbox", Delete: { Objects: [{ Key: "s3/b" }, { Key: "s3/c" }] } }),
    );
    const got = await events();
    expect(got.map(brief)).toEqual([
      "+inbox/s3/a PutObject",
      "+inbox/s3/b PutObject",
      "+inbox/s3/c PutObject",
      "-inbox/s3/a DeleteObject",
      "-inbox/s3/b DeleteObject",
      "-inbox/s3/c DeleteObject",
    ]);
    expect(got.at(-1)?.detail.object).toEqual({ key: "s3/c", size: 12, etag: md5("body of s3/c") });
    for (const event of got) expect(event.time).toBe(toSecond(emu.clock.now()));
  });

  it("presign: a PUT through a presigned URL notifies (§notifications/3)", async () => {
    const url = await emu.bucket("inbox").presign("presigned/upload.txt", { method: "PUT", expiresIn: "1m" });
    expect((await fetch(url, { method: "PUT", body: "via a presigned URL" })).status).toBe(200);
    const got = await events();
    expect(got.map(brief)).toEqual(["+inbox/presigned/upload.txt PutObject"]);
    expect(got[0]?.detail.object).toMatchObject({ size: 19, etag: md5("via a presigned URL") });
  });

  it("emu.bucket: put and delete notify (§notifications/3)", async () => {
    const inbox = emu.bucket("inbox");
    await inbox.put("test/a", "a");
    await inbox.delete(["test/a", "test/never-there"]);
    expect(await briefs()).toEqual(["+inbox/test/a PutObject", "-inbox/test/a DeleteObject"]);
  });

  it("put: an overwrite, by any path, is Object Created with the new object's size and ETag (§notifications/3)", async () => {
    await emu.bucket("inbox").put("same", "v1");
    await s3.send(new PutObjectCommand({ Bucket: "inbox", Key: "same", Body: "v2!" }));
    await write({ op: "put", bucket: "inbox", key: "same", body: "v3!!" });
    const got = await events();
    expect(got.map((event) => [event["detail-type"], event.detail.object])).toEqual([
      ["Object Created", { key: "same", size: 2, etag: md5("v1") }],
      ["Object Created", { key: "same", size: 3, etag: md5("v2!") }],
      ["Object Created", { key: "same", size: 4, etag: md5("v3!!") }],
    ]);
  });
});

describe("bucket notifications: writes that change nothing", () => {
  it("put: a failed conditional write notifies nothing, by any path (§notifications/4)", async () => {
    const inbox = emu.bucket("inbox");
    await inbox.put("taken", "first");
    const before = (await events()).length;
    expect(
      await failure(s3.send(new PutObjectCommand({ Bucket: "inbox", Key: "taken", Body: "x", IfNoneMatch: "*" }))),
    ).toMatchObject({ code: "PreconditionFailed", status: 412 });
    expect(
      await failure(s3.send(new PutObjectCommand({ Bucket: "inbox", Key: "taken", Body: "x", IfMatch: '"0000"' }))),
    ).toMatchObject({ code: "PreconditionFailed", status: 412 });
    expect(
      await failure(
        s3.send(
          new CopyObjectCommand({ Bucket: "inbox", Key: "copy", CopySource: "inbox/taken", CopySourceIfMatch: '"0"' }),
        ),
      ),
    ).toMatchObject({ code: "PreconditionFailed", status: 412 });
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: "inbox", Key: "taken" }));
    const part = await s3.send(
      new UploadPartCommand({ Bucket: "inbox", Key: "taken", UploadId, PartNumber: 1, Body: "x" }),
    );
    expect(
      await failure(
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: "inbox",
            Key: "taken",
            UploadId,
            MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
            IfNoneMatch: "*",
          }),
        ),
      ),
    ).toMatchObject({ code: "PreconditionFailed", status: 412 });
    const refused = await write({ op: "put", bucket: "inbox", key: "taken", body: "x", ifAbsent: true });
    expect(refused.body.error.code).toBe("NIMBUS_BUCKET_PRECONDITION");
    await expect(inbox.put("taken", "x", { onlyIf: { etagDoesNotMatch: "*" } })).rejects.toMatchObject({
      code: "NIMBUS_BUCKET_PRECONDITION",
    });
    expect(before).toBe(1);
    expect(await briefs()).toEqual(["+inbox/taken PutObject"]);
    expect(await (await inbox.get("taken"))?.text()).toBe("first");
  });

  it("delete: deleting a key that does not exist notifies nothing, by any path (§notifications/4)", async () => {
    await emu.bucket("inbox").put("here", "1");
    await s3.send(new DeleteObjectCommand({ Bucket: "inbox", Key: "nowhere" }));
    await s3.send(
      // "here" twice: the second finds nothing to delete.
      new DeleteObjectsCommand({
        Bucket: "inbox",
        Delete: { Objects: [{ Key: "nowhere" }, { Key: "here" }, { Key: "here" }] },
      }),
    );
    await s3.send(new DeleteObjectCommand({ Bucket: "inbox", Key: "here" }));
    expect((await write({ op: "delete", bucket: "inbox", keys: ["here", "nowhere"] })).status).toBe(200);
    await emu.bucket("inbox").delete("here");
    expect(await briefs()).toEqual(["+inbox/here PutObject", "-inbox/here DeleteObject"]);
  });
});

describe("bucket notifications: order", () => {
  it("put, delete: many quick writes through every path are put in the order they were committed (§notifications/5)", async () => {
    const inbox = emu.bucket("inbox");
    const expected: string[] = [];
    for (let i = 0; i < 12; i++) {
      const key = `k${String(i).padStart(2, "0")}`;
      if (i % 3 === 0) await inbox.put(key, key);
      else if (i % 3 === 1) await s3.send(new PutObjectCommand({ Bucket: "inbox", Key: key, Body: key }));
      else await write({ op: "put", bucket: "inbox", key, body: key });
      expected.push(`+inbox/${key} PutObject`);
      if (i % 4 === 3) {
        await s3.send(new DeleteObjectCommand({ Bucket: "inbox", Key: `k${String(i - 1).padStart(2, "0")}` }));
        expected.push(`-inbox/k${String(i - 1).padStart(2, "0")} DeleteObject`);
      }
    }
    // 25 in one call: more than a put's 10 entries.
    const burst = Array.from({ length: 25 }, (_, i) => `burst/${String(i).padStart(2, "0")}`);
    await write({ op: "puts", bucket: "inbox", keys: burst });
    expected.push(...burst.map((key) => `+inbox/${key} PutObject`));
    await write({ op: "delete", bucket: "inbox", keys: [...burst].reverse() });
    expected.push(...[...burst].reverse().map((key) => `-inbox/${key} DeleteObject`));
    expect(await briefs()).toEqual(expected);
  });

  it("put, delete: racing writes to one key end with the event of the change that was committed last (§notifications/5)", async () => {
    const bodies = Array.from({ length: 16 }, (_, i) => `version ${i}`);
    await Promise.all(
      bodies.map((body, i) =>
        i % 2 === 0
          ? s3.send(new PutObjectCommand({ Bucket: "inbox", Key: "contended", Body: body }))
          : write({ op: "put", bucket: "inbox", key: "contended", body }),
      ),
    );
    const stored = await emu.bucket("inbox").head("contended");
    const got = await events();
    expect(got).toHaveLength(bodies.length);
    expect(got.at(-1)?.detail.object.etag).toBe(stored?.etag);

    await Promise.all([
      emu.bucket("inbox").delete("contended"),
      write({ op: "put", bucket: "inbox", key: "contended", body: "again" }),
      s3.send(new DeleteObjectCommand({ Bucket: "inbox", Key: "contended" })),
    ]);
    const exists = (await emu.bucket("inbox").head("contended")) !== null;
    expect((await events()).at(-1)?.["detail-type"]).toBe(exists ? "Object Created" : "Object Deleted");
  });
});

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

  it("kill -9: every write a killed `nimbus dev` committed is notified after the restart, at least once (§notifications/6)", async () => {
    const copy = await copyFixture("notifications");
    cleanups.push(copy.remove);
    const dev = await startDev(copy.dir);
    cleanups.push(() => dev.child.kill("SIGKILL"));
    const url = dev.ready.url;
    const keys = Array.from({ length: 60 }, (_, i) => `killed/${String(i).padStart(2, "0")}`);
    const acknowledged: string[] = [];
    let killed = false;
    // Four writers through the binding; the process dies once 20 writes returned.
    const writers = [0, 1, 2, 3].map(async (lane) => {
      for (let i = lane; i < keys.length && !killed; i += 4) {
        const key = keys[i]!;
        const result = await write(
          { op: "put", bucket: "inbox", key, body: key },
          { fetch: (path, init) => fetch(`${url}${path}`, init) },
        ).catch(() => undefined);
        if (result?.status !== 200) return;
        acknowledged.push(key);
        if (acknowledged.length >= 20 && !killed) {
          killed = true;
          dev.child.kill("SIGKILL");
        }
      }
    });
    await Promise.all(writers);
    await dev.exited;
    expect(acknowledged.length).toBeGreaterThanOrEqual(20);

    const restarted = await restartOnDevState(copy.dir);
    cleanups.push(() => restarted.close());
    await restarted.idle();
    // Events in flight to the recorder when the process died come again after the queue's visibility timeout.
    await restarted.clock.advance("10s");
    const stored = (await restarted.bucket("inbox").list({ prefix: "killed/" })).objects;
    const listed = stored.map((object) => object.key);
    for (const key of acknowledged) expect(listed).toContain(key);
    const got = await events("seen", restarted);
    for (const object of stored) {
      expect(
        got.some((event) => event.detail.object.key === object.key && event.detail.object.etag === object.etag),
        `an event for ${object.key}`,
      ).toBe(true);
    }
    // And nothing that was not committed.
    for (const event of got) expect(listed).toContain(event.detail.object.key);
  }, 30_000);
});

describe("bucket notifications: refused events", () => {
  it("put: an event the bus refuses is logged as an error naming the bucket, key and bus, and dropped; later changes still flow (§notifications/7)", async () => {
    const mark = emu.logs.length;
    await emu.bucket("guarded").put("refused.txt", "r");
    expect((await write({ op: "put", bucket: "guarded", key: "refused-too.txt", body: "r" })).status).toBe(200);
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
    expect(await events("checked")).toEqual([]);

    // The bus takes deletions: they still arrive, the refused creations are not retried.
    await emu.bucket("guarded").delete("refused.txt");
    await write({ op: "delete", bucket: "guarded", keys: ["refused-too.txt"] });
    expect(await briefs("checked")).toEqual([
      "-guarded/refused.txt DeleteObject",
      "-guarded/refused-too.txt DeleteObject",
    ]);
    expect(loggedSince(mark, /guarded/).filter((entry) => entry.level === "error")).toHaveLength(2);
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
  it("reload: a notify added by a reload notifies from the next write on, by every path; one removed by a reload stops (§notifications/8)", async () => {
    await emu.bucket("plain").put("before.txt", "1");
    await write({ op: "put", bucket: "plain", key: "before-fn.txt", body: "1" });
    expect(await events()).toEqual([]);

    const undo = await editApp(emu, root, (source) =>
      source.replace(
        'export const plain = app.bucket("plain");',
        'export const plain = app.bucket("plain");\nplain.notify(main, { prefix: "after" });',
      ),
    );
    cleanups.push(undo);
    // The worker that writes through the binding is the one from before the reload.
    expect((await write({ op: "put", bucket: "plain", key: "after-fn.txt", body: "2" })).status).toBe(200);
    await s3.send(new PutObjectCommand({ Bucket: "plain", Key: "after-s3.txt", Body: "2" }));
    await emu.bucket("plain").put("after.txt", "2");
    await emu.bucket("plain").put("before.txt", "overwritten, not under the prefix");
    await emu.bucket("plain").delete("after.txt");
    expect(await briefs()).toEqual([
      "+plain/after-fn.txt PutObject",
      "+plain/after-s3.txt PutObject",
      "+plain/after.txt PutObject",
      "-plain/after.txt DeleteObject",
    ]);

    cleanups.pop();
    await undo();
    await write({ op: "put", bucket: "plain", key: "after-gone-fn.txt", body: "3" });
    await emu.bucket("plain").put("after-gone.txt", "3");
    await s3.send(new DeleteObjectCommand({ Bucket: "plain", Key: "after-s3.txt" }));
    expect((await events()).length).toBe(4);
  });

  it("reload: a notify removed by a reload records nothing while it is gone; added back, only later writes notify (§notifications/8)", async () => {
    const undo = await editApp(emu, root, (source) =>
      source.replace('inbox.notify(main, { events: ["created", "deleted"] });', ""),
    );
    cleanups.push(undo);
    await emu.bucket("inbox").put("while-gone.txt", "x");
    await write({ op: "put", bucket: "inbox", key: "while-gone-fn.txt", body: "x" });
    expect(await events()).toEqual([]);
    cleanups.pop();
    await undo();
    await emu.bucket("inbox").put("back.txt", "y");
    await emu.bucket("inbox").delete("while-gone.txt");
    expect(await briefs()).toEqual(["+inbox/back.txt PutObject", "-inbox/while-gone.txt DeleteObject"]);
  });

  it("reload: writes while a reload adds a notification to a new bus are recorded and put, none refused (§notifications/8)", async () => {
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
    await emu.bucket("plain").put("after.txt", "after");
    expect(during.length).toBeGreaterThan(0);
    expect(loggedSince(mark, /bucket plain/).filter((entry) => entry.level === "error")).toEqual([]);
    const keys = (await events()).map((event) => event.detail.object.key);
    // Each write is notified at most once, in order; the last, after the reload, certainly.
    expect(keys).toEqual([...during.filter((key) => keys.includes(key)), "after.txt"]);
  });
});
