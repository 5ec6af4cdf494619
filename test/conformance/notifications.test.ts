// docs/semantics.md, "Bucket notifications", on every target. Every write path is used: a
// function's binding (the `writer` route), the S3 endpoint with the real SDK, presigned
// URLs a function hands out, and `app.bucket()`. The fixture's rules hand every event to
// a queue whose consumer appends it to a log in the `results` bucket, so a test reads the
// exact events, in the order they came.
import { createHash } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
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
import { afterAll, expect } from "vitest";
import type { WriterOp } from "../fixtures/notifications/nimbus.app.ts";
import { conformance, type DeployedApp, fixture } from "./conformance.ts";

type BucketEvent = NimbusEvent<BucketEventDetail>;
type Log = "seen" | "audited" | "checked";

const md5 = (data: string | Uint8Array) => createHash("md5").update(data).digest("hex");
const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `+inbox/a.txt PutObject`, `-inbox/a.txt DeleteObject`: an event in one line. */
function brief(event: BucketEvent): string {
  const sign = { "Object Created": "+", "Object Deleted": "-" }[event["detail-type"]] ?? `${event["detail-type"]} `;
  return `${sign}${event.detail.bucket.name}/${event.detail.object.key} ${event.detail.reason}`;
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

/** Checks that an event's `time` (ISO, to the second) is the time of a change made between `from` and `to` (ms). */
function expectTimeBetween(time: string, from: number, to: number): void {
  expect(time).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
  expect(Date.parse(time)).toBeGreaterThanOrEqual(Math.floor(from / 1000) * 1000);
  expect(Date.parse(time)).toBeLessThanOrEqual(to);
}

conformance("bucket notifications", { app: fixture("notifications"), manualClock: true }, (target) => {
  let client: S3Client | undefined;
  let clientOf: string | undefined;
  /** The SDK on the app's S3 endpoint (which may move when the app restarts). */
  const s3 = (): S3Client => {
    const { endpoint, region, credentials } = target.app.s3;
    if (clientOf !== endpoint) {
      client?.destroy();
      client = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
      clientOf = endpoint;
    }
    return client!;
  };
  afterAll(() => client?.destroy());
  /** The S3 name of one of the app's buckets. */
  const on = (bucket: string) => target.app.s3.bucketName(bucket);

  /** The events the queue `log` got, in order (`recorder` keeps them in `log/<queue>`), once the app is idle. */
  async function events(log: Log = "seen", app: DeployedApp = target.app): Promise<BucketEvent[]> {
    await app.idle();
    const stored = await app.bucket("results").get(`log/${log}`);
    return stored ? stored.json<BucketEvent[]>() : [];
  }
  const briefs = async (log?: Log) => (await events(log)).map(brief);

  /** Runs one operation in `writer`, through the bucket binding in its function; answers its status and JSON. */
  async function write(op: WriterOp, app: DeployedApp = target.app): Promise<{ status: number; body: any }> {
    const response = await app.fetch("/op", { method: "POST", body: JSON.stringify(op) });
    return { status: response.status, body: await response.json() };
  }

  /** Edits the app file under the deployment's root and applies it; the returned function undoes both. */
  async function editApp(edit: (source: string) => string): Promise<() => Promise<void>> {
    const file = join(target.app.root, "nimbus.app.ts");
    const original = await readFile(file, "utf8");
    const edited = edit(original);
    expect(edited).not.toBe(original);
    await writeFile(file, edited);
    await target.app.update();
    return async () => {
      await writeFile(file, original);
      await target.app.update();
    };
  }

  // §notifications/1

  target.test(
    "§notifications/1 put, delete: a bucket notifying both kinds puts one event per object created and per object deleted",
    async () => {
      const inbox = target.app.bucket("inbox");
      await inbox.put("a.txt", "a");
      await inbox.put("b.txt", "b");
      await inbox.delete("a.txt");
      expect(await briefs()).toEqual(["+inbox/a.txt PutObject", "+inbox/b.txt PutObject", "-inbox/a.txt DeleteObject"]);
    },
  );

  target.test(
    "§notifications/1 notify: only changes of a kind in `events`, to keys with the `prefix` and the `suffix`, put an event",
    async () => {
      const photos = target.app.bucket("photos");
      for (const key of ["uploads/cat.jpg", "uploads/cat.png", "thumbs/uploads/cat.jpg", "uploads/cat.jpg.tmp"]) {
        await photos.put(key, key);
      }
      await s3().send(new PutObjectCommand({ Bucket: on("photos"), Key: "uploads/dog.jpg", Body: "dog" }));
      // Only "created": deleting a matching key puts nothing.
      await photos.delete(["uploads/cat.jpg", "uploads/dog.jpg"]);
      expect(await briefs()).toEqual(["+photos/uploads/cat.jpg PutObject", "+photos/uploads/dog.jpg PutObject"]);
    },
  );

  target.test(
    "§notifications/1 notify: a change matching two notify calls puts one event for each, on each one's bus",
    async () => {
      const ledger = target.app.bucket("ledger");
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
    },
  );

  target.test("§notifications/1 put: a bucket without notify puts no event, by any path", async () => {
    await target.app.bucket("plain").put("quiet.txt", "shh");
    expect((await write({ op: "put", bucket: "plain", key: "quiet-too.txt", body: "shh" })).status).toBe(200);
    await s3().send(new DeleteObjectCommand({ Bucket: on("plain"), Key: "quiet.txt" }));
    expect([...(await events("seen")), ...(await events("audited")), ...(await events("checked"))]).toEqual([]);
    expect((await target.app.bucket("plain").list()).objects.map((object) => object.key)).toEqual(["quiet-too.txt"]);
  });

  // §notifications/2

  target.test(
    "§notifications/2 put: the event is shaped as EventBridge's: source nimbus.bucket, Object Created, the bucket as resource, the change's time to the second, the object's key, size and ETag",
    async () => {
      const from = await target.app.now();
      const stored = await target.app.bucket("inbox").put("reports/q1.json", '{"total":42}');
      const to = await target.app.now();
      const got = await events();
      expect(got).toEqual([
        {
          version: "0",
          id: expect.stringMatching(uuid),
          "detail-type": "Object Created",
          source: "nimbus.bucket",
          account: "000000000000",
          time: expect.any(String),
          region: "local",
          resources: ["inbox"],
          detail: {
            bucket: { name: "inbox" },
            object: { key: "reports/q1.json", size: 12, etag: md5('{"total":42}') },
            reason: "PutObject",
          },
        },
      ]);
      expectTimeBetween(got[0]!.time, from, to);
      expect(stored.etag).toBe(md5('{"total":42}'));
    },
  );

  target.test(
    "§notifications/2 delete: Object Deleted carries the deleted object's size and ETag, and the time of the delete",
    async () => {
      const inbox = target.app.bucket("inbox");
      await inbox.put("old.bin", "twelve bytes");
      const [created] = await events();
      const from = await target.app.now();
      await inbox.delete("old.bin");
      const to = await target.app.now();
      const got = await events();
      expect(got).toHaveLength(2);
      const deleted = got[1];
      expect(deleted).toMatchObject({
        "detail-type": "Object Deleted",
        source: "nimbus.bucket",
        resources: ["inbox"],
        detail: {
          bucket: { name: "inbox" },
          object: { key: "old.bin", size: 12, etag: md5("twelve bytes") },
          reason: "DeleteObject",
        },
      });
      expectTimeBetween(deleted!.time, from, to);
      expect(deleted?.id).toMatch(uuid);
      expect(deleted?.id).not.toBe(created?.id);
    },
  );

  target.test(
    "§notifications/2 CopyObject: the event's reason is CopyObject, with the copy's size and ETag; a copy from another bucket notifies the target bucket",
    async () => {
      await target.app.bucket("plain").put("source.txt", "copied body");
      await s3().send(
        new CopyObjectCommand({ Bucket: on("inbox"), Key: "copy.txt", CopySource: `${on("plain")}/source.txt` }),
      );
      await s3().send(
        new CopyObjectCommand({ Bucket: on("inbox"), Key: "copy-of-copy.txt", CopySource: `${on("inbox")}/copy.txt` }),
      );
      const got = await events();
      expect(got.map(brief)).toEqual(["+inbox/copy.txt CopyObject", "+inbox/copy-of-copy.txt CopyObject"]);
      for (const event of got) expect(event.detail.object).toMatchObject({ size: 11, etag: md5("copied body") });
    },
  );

  target.test(
    "§notifications/2 CompleteMultipartUpload: one event once the upload completes, with the whole object's size and multipart ETag",
    async () => {
      const first = new Uint8Array(5 * 1024 * 1024).fill(7);
      const last = new TextEncoder().encode("the end");
      const Bucket = on("inbox");
      const { UploadId } = await s3().send(new CreateMultipartUploadCommand({ Bucket, Key: "big.bin" }));
      const parts = [];
      for (const [index, body] of [first, last].entries()) {
        const part = await s3().send(
          new UploadPartCommand({ Bucket, Key: "big.bin", UploadId, PartNumber: index + 1, Body: body }),
        );
        parts.push({ PartNumber: index + 1, ETag: part.ETag });
      }
      // Parts are no change of an object: nothing yet.
      expect(await events()).toEqual([]);
      await s3().send(
        new CompleteMultipartUploadCommand({ Bucket, Key: "big.bin", UploadId, MultipartUpload: { Parts: parts } }),
      );
      const etag = `${md5(Buffer.concat([first, last].map((part) => Buffer.from(md5(part), "hex"))))}-2`;
      const got = await events();
      expect(got.map(brief)).toEqual(["+inbox/big.bin CompleteMultipartUpload"]);
      expect(got[0]?.detail.object).toEqual({ key: "big.bin", size: first.byteLength + last.byteLength, etag });
    },
  );

  // §notifications/3

  target.test(
    "§notifications/3 binding: put, copy (get then put) and delete in a function notify, at the target's time",
    async () => {
      const from = await target.app.now();
      const put = await write({ op: "put", bucket: "inbox", key: "fn/a.txt", body: "from the worker" });
      expect(put).toEqual({ status: 200, body: { size: 15, etag: md5("from the worker") } });
      expect((await write({ op: "copy", bucket: "inbox", from: "fn/a.txt", key: "fn/b.txt" })).status).toBe(200);
      expect((await write({ op: "delete", bucket: "inbox", keys: ["fn/a.txt", "fn/b.txt"] })).status).toBe(200);
      const to = await target.app.now();
      const got = await events();
      expect(got.map(brief)).toEqual([
        "+inbox/fn/a.txt PutObject",
        "+inbox/fn/b.txt PutObject",
        "-inbox/fn/a.txt DeleteObject",
        "-inbox/fn/b.txt DeleteObject",
      ]);
      for (const event of got) {
        expect(event.detail.object).toMatchObject({ size: 15, etag: md5("from the worker") });
        expectTimeBetween(event.time, from, to);
      }
    },
  );

  target.test(
    "§notifications/3 S3: PutObject, DeleteObject and DeleteObjects notify; DeleteObjects puts one event per object deleted",
    async () => {
      const Bucket = on("inbox");
      const from = await target.app.now();
      for (const key of ["s3/a", "s3/b", "s3/c"]) {
        await s3().send(new PutObjectCommand({ Bucket, Key: key, Body: `body of ${key}` }));
      }
      await s3().send(new DeleteObjectCommand({ Bucket, Key: "s3/a" }));
      await s3().send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: "s3/b" }, { Key: "s3/c" }] } }));
      const to = await target.app.now();
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
      for (const event of got) expectTimeBetween(event.time, from, to);
    },
  );

  target.test("§notifications/3 presign: a PUT through a URL a function presigned notifies", async () => {
    const { status, body } = await write({ op: "presign", bucket: "inbox", key: "presigned/upload.txt" });
    expect(status).toBe(200);
    expect((await fetch(body.url, { method: "PUT", body: "via a presigned URL" })).status).toBe(200);
    const got = await events();
    expect(got.map(brief)).toEqual(["+inbox/presigned/upload.txt PutObject"]);
    expect(got[0]?.detail.object).toMatchObject({ size: 19, etag: md5("via a presigned URL") });
  });

  target.test("§notifications/3 app.bucket: put and delete from the test notify", async () => {
    const inbox = target.app.bucket("inbox");
    await inbox.put("test/a", "a");
    await inbox.delete(["test/a", "test/never-there"]);
    expect(await briefs()).toEqual(["+inbox/test/a PutObject", "-inbox/test/a DeleteObject"]);
  });

  target.test(
    "§notifications/3 put: an overwrite, by any path, is Object Created with the new object's size and ETag",
    async () => {
      await target.app.bucket("inbox").put("same", "v1");
      await s3().send(new PutObjectCommand({ Bucket: on("inbox"), Key: "same", Body: "v2!" }));
      await write({ op: "put", bucket: "inbox", key: "same", body: "v3!!" });
      const { body } = await write({ op: "presign", bucket: "inbox", key: "same" });
      expect((await fetch(body.url, { method: "PUT", body: "v4!!!" })).status).toBe(200);
      const got = await events();
      expect(got.map((event) => [event["detail-type"], event.detail.object])).toEqual([
        ["Object Created", { key: "same", size: 2, etag: md5("v1") }],
        ["Object Created", { key: "same", size: 3, etag: md5("v2!") }],
        ["Object Created", { key: "same", size: 4, etag: md5("v3!!") }],
        ["Object Created", { key: "same", size: 5, etag: md5("v4!!!") }],
      ]);
    },
  );

  // §notifications/4

  target.test("§notifications/4 put: a failed conditional write notifies nothing, by any path", async () => {
    const Bucket = on("inbox");
    const inbox = target.app.bucket("inbox");
    await inbox.put("taken", "first");
    expect(await briefs()).toEqual(["+inbox/taken PutObject"]);
    expect(
      await failure(s3().send(new PutObjectCommand({ Bucket, Key: "taken", Body: "x", IfNoneMatch: "*" }))),
    ).toMatchObject({ code: "PreconditionFailed", status: 412 });
    expect(
      await failure(s3().send(new PutObjectCommand({ Bucket, Key: "taken", Body: "x", IfMatch: '"0000"' }))),
    ).toMatchObject({ code: "PreconditionFailed", status: 412 });
    expect(
      await failure(
        s3().send(
          new CopyObjectCommand({ Bucket, Key: "copy", CopySource: `${Bucket}/taken`, CopySourceIfMatch: '"0"' }),
        ),
      ),
    ).toMatchObject({ code: "PreconditionFailed", status: 412 });
    const { UploadId } = await s3().send(new CreateMultipartUploadCommand({ Bucket, Key: "taken" }));
    const part = await s3().send(new UploadPartCommand({ Bucket, Key: "taken", UploadId, PartNumber: 1, Body: "x" }));
    expect(
      await failure(
        s3().send(
          new CompleteMultipartUploadCommand({
            Bucket,
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
    expect(await briefs()).toEqual(["+inbox/taken PutObject"]);
    expect(await (await inbox.get("taken"))?.text()).toBe("first");
  });

  target.test("§notifications/4 delete: deleting a key that does not exist notifies nothing, by any path", async () => {
    const Bucket = on("inbox");
    await target.app.bucket("inbox").put("here", "1");
    await s3().send(new DeleteObjectCommand({ Bucket, Key: "nowhere" }));
    await s3().send(
      // "here" twice: the second finds nothing to delete.
      new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: "nowhere" }, { Key: "here" }, { Key: "here" }] } }),
    );
    await s3().send(new DeleteObjectCommand({ Bucket, Key: "here" }));
    expect((await write({ op: "delete", bucket: "inbox", keys: ["here", "nowhere"] })).status).toBe(200);
    await target.app.bucket("inbox").delete("here");
    expect(await briefs()).toEqual(["+inbox/here PutObject", "-inbox/here DeleteObject"]);
  });

  // §notifications/5

  target.test(
    "§notifications/5 put, delete: many quick writes through every path are put in the order they were committed",
    async () => {
      const Bucket = on("inbox");
      const inbox = target.app.bucket("inbox");
      const expected: string[] = [];
      const name = (i: number) => `k${String(i).padStart(2, "0")}`;
      for (let i = 0; i < 12; i++) {
        const key = name(i);
        if (i % 3 === 0) await inbox.put(key, key);
        else if (i % 3 === 1) await s3().send(new PutObjectCommand({ Bucket, Key: key, Body: key }));
        else await write({ op: "put", bucket: "inbox", key, body: key });
        expected.push(`+inbox/${key} PutObject`);
        if (i % 4 === 3) {
          await s3().send(new DeleteObjectCommand({ Bucket, Key: name(i - 1) }));
          expected.push(`-inbox/${name(i - 1)} DeleteObject`);
        }
      }
      // 25 in one call: more than a bus put's 10 entries.
      const burst = Array.from({ length: 25 }, (_, i) => `burst/${String(i).padStart(2, "0")}`);
      await write({ op: "puts", bucket: "inbox", keys: burst });
      expected.push(...burst.map((key) => `+inbox/${key} PutObject`));
      await write({ op: "delete", bucket: "inbox", keys: [...burst].reverse() });
      expected.push(...[...burst].reverse().map((key) => `-inbox/${key} DeleteObject`));
      expect(await briefs()).toEqual(expected);
    },
  );

  target.test(
    "§notifications/5 put, delete: racing writes to one key end with the event of the change that was committed last",
    async () => {
      const Bucket = on("inbox");
      const bodies = Array.from({ length: 16 }, (_, i) => `version ${i}`);
      await Promise.all(
        bodies.map((body, i) =>
          i % 2 === 0
            ? s3().send(new PutObjectCommand({ Bucket, Key: "contended", Body: body }))
            : write({ op: "put", bucket: "inbox", key: "contended", body }),
        ),
      );
      const stored = await target.app.bucket("inbox").head("contended");
      const got = await events();
      expect(got).toHaveLength(bodies.length);
      expect(got.at(-1)?.detail.object.etag).toBe(stored?.etag);

      await Promise.all([
        target.app.bucket("inbox").delete("contended"),
        write({ op: "put", bucket: "inbox", key: "contended", body: "again" }),
        s3().send(new DeleteObjectCommand({ Bucket, Key: "contended" })),
      ]);
      const exists = (await target.app.bucket("inbox").head("contended")) !== null;
      expect((await events()).at(-1)?.["detail-type"]).toBe(exists ? "Object Created" : "Object Deleted");
    },
  );

  // §notifications/6

  /** Each object under `prefix` in inbox has an event with its ETag, and every event is of a stored object. */
  async function expectEveryObjectNotified(app: DeployedApp, prefix: string, got: BucketEvent[]): Promise<string[]> {
    const stored = (await app.bucket("inbox").list({ prefix })).objects;
    const listed = stored.map((object) => object.key);
    for (const object of stored) {
      expect(
        got.some((event) => event.detail.object.key === object.key && event.detail.object.etag === object.etag),
        `an event for ${object.key}`,
      ).toBe(true);
    }
    for (const event of got) expect(listed).toContain(event.detail.object.key);
    return listed;
  }

  target.test(
    "§notifications/6 restart: every change committed before a clean stop is put on the bus, after the restart if not before",
    async () => {
      const Bucket = on("inbox");
      const keys = Array.from({ length: 30 }, (_, i) => `stopped/${String(i).padStart(2, "0")}`);
      // No idle(): the stop comes while the last changes may still wait to be put.
      await Promise.all(
        keys.map((key, i) =>
          i % 3 === 0
            ? target.app.bucket("inbox").put(key, key)
            : i % 3 === 1
              ? s3().send(new PutObjectCommand({ Bucket, Key: key, Body: key }))
              : write({ op: "put", bucket: "inbox", key, body: key }),
        ),
      );
      await target.app.restart();
      const got = await events();
      expect(await expectEveryObjectNotified(target.app, "stopped/", got)).toEqual(keys);
    },
  );

  target.test(
    "§notifications/6 kill -9: every write a killed target committed is notified after the restart, at least once",
    async () => {
      const app = target.app;
      const keys = Array.from({ length: 60 }, (_, i) => `killed/${String(i).padStart(2, "0")}`);
      const acknowledged: string[] = [];
      let killing: Promise<void> | undefined;
      // Four writers through the binding; the target dies once 20 writes returned.
      const writers = [0, 1, 2, 3].map(async (lane) => {
        for (let i = lane; i < keys.length && !killing; i += 4) {
          const key = keys[i]!;
          const result = await write({ op: "put", bucket: "inbox", key, body: key }).catch(() => undefined);
          if (result?.status !== 200) return;
          acknowledged.push(key);
          if (acknowledged.length >= 20 && !killing) killing = app.kill();
        }
      });
      await Promise.all(writers);
      await killing;
      expect(acknowledged.length).toBeGreaterThanOrEqual(20);

      const stored = (await app.bucket("inbox").list({ prefix: "killed/" })).objects.map((object) => object.key);
      for (const key of acknowledged) expect(stored).toContain(key);
      // Events in flight to the recorder when the target died come again after the queue's 5 s visibility timeout.
      if (target.driver.canMoveTime) {
        await app.idle();
        await app.advance("10s");
        await expectEveryObjectNotified(app, "killed/", await events("seen", app));
      } else {
        const deadline = Date.now() + 30_000;
        for (;;) {
          const got = await events("seen", app);
          const notified = new Set(got.map((event) => event.detail.object.key));
          if (stored.every((key) => notified.has(key)) || Date.now() > deadline) {
            await expectEveryObjectNotified(app, "killed/", got);
            break;
          }
          await new Promise((resolve) => setTimeout(resolve, 250));
        }
      }
    },
    { timeout: 90_000 },
  );

  // §notifications/7

  target.test(
    "§notifications/7 put: an event the bus refuses is dropped and not retried; later changes the bus takes still flow",
    async () => {
      await target.app.bucket("guarded").put("refused.txt", "r");
      expect((await write({ op: "put", bucket: "guarded", key: "refused-too.txt", body: "r" })).status).toBe(200);
      expect(await events("checked")).toEqual([]);
      // The writes themselves stand.
      expect((await target.app.bucket("guarded").list()).objects.map((object) => object.key)).toEqual([
        "refused-too.txt",
        "refused.txt",
      ]);

      // The bus takes deletions: they still arrive, the refused creations are not retried.
      await target.app.bucket("guarded").delete("refused.txt");
      await write({ op: "delete", bucket: "guarded", keys: ["refused-too.txt"] });
      expect(await briefs("checked")).toEqual([
        "-guarded/refused.txt DeleteObject",
        "-guarded/refused-too.txt DeleteObject",
      ]);
    },
  );

  target.test(
    "§notifications/7 put, delete: a refused change among quick writes drops only its own event, not the accepted changes around it",
    async () => {
      const guarded = target.app.bucket("guarded");
      await guarded.put("kept.txt", "kept");
      await target.app.idle();
      // No idle() between them: the changes wait to be put together.
      await guarded.delete("kept.txt");
      await guarded.put("new.txt", "new");
      await guarded.delete("new.txt");
      await s3().send(new PutObjectCommand({ Bucket: on("guarded"), Key: "newer.txt", Body: "newer" }));
      await s3().send(new DeleteObjectCommand({ Bucket: on("guarded"), Key: "newer.txt" }));
      expect(await briefs("checked")).toEqual([
        "-guarded/kept.txt DeleteObject",
        "-guarded/new.txt DeleteObject",
        "-guarded/newer.txt DeleteObject",
      ]);
    },
  );

  // §notifications/8

  target.test(
    "§notifications/8 reload: a notify added by a reload notifies from the next write on, by every path; one removed by a reload stops",
    async () => {
      await target.app.bucket("plain").put("before.txt", "1");
      await write({ op: "put", bucket: "plain", key: "before-fn.txt", body: "1" });
      expect(await events()).toEqual([]);

      const undo = await editApp((source) =>
        source.replace(
          'export const plain = app.bucket("plain");',
          'export const plain = app.bucket("plain");\nplain.notify(main, { prefix: "after" });',
        ),
      );
      try {
        expect((await write({ op: "put", bucket: "plain", key: "after-fn.txt", body: "2" })).status).toBe(200);
        await s3().send(new PutObjectCommand({ Bucket: on("plain"), Key: "after-s3.txt", Body: "2" }));
        const { body } = await write({ op: "presign", bucket: "plain", key: "after-url.txt" });
        expect((await fetch(body.url, { method: "PUT", body: "2" })).status).toBe(200);
        await target.app.bucket("plain").put("after.txt", "2");
        await target.app.bucket("plain").put("before.txt", "overwritten, not under the prefix");
        await target.app.bucket("plain").delete("after.txt");
        expect(await briefs()).toEqual([
          "+plain/after-fn.txt PutObject",
          "+plain/after-s3.txt PutObject",
          "+plain/after-url.txt PutObject",
          "+plain/after.txt PutObject",
          "-plain/after.txt DeleteObject",
        ]);
      } finally {
        await undo();
      }
      await write({ op: "put", bucket: "plain", key: "after-gone-fn.txt", body: "3" });
      await target.app.bucket("plain").put("after-gone.txt", "3");
      await s3().send(new DeleteObjectCommand({ Bucket: on("plain"), Key: "after-s3.txt" }));
      expect(await events()).toHaveLength(5);
    },
  );

  target.test(
    "§notifications/8 reload: a notify removed by a reload records nothing while it is gone; added back, only later writes notify",
    async () => {
      const undo = await editApp((source) =>
        source.replace('inbox.notify(main, { events: ["created", "deleted"] });', ""),
      );
      try {
        await target.app.bucket("inbox").put("while-gone.txt", "x");
        await write({ op: "put", bucket: "inbox", key: "while-gone-fn.txt", body: "x" });
        expect(await events()).toEqual([]);
      } finally {
        await undo();
      }
      await target.app.bucket("inbox").put("back.txt", "y");
      await target.app.bucket("inbox").delete("while-gone.txt");
      expect(await briefs()).toEqual(["+inbox/back.txt PutObject", "-inbox/while-gone.txt DeleteObject"]);
    },
  );

  target.test(
    "§notifications/8 reload: writes while an update adds a notification to a new bus are each put at most once, in order, and writes after it certainly",
    async () => {
      const file = join(target.app.root, "nimbus.app.ts");
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
        // A changed function, so the update restarts it (and takes a while) after it opened the buckets.
        .replace('routes: ["POST /op"],', 'routes: ["POST /op"],\n  timeout: "20s",');
      expect(edited).not.toBe(original);
      await writeFile(file, edited);
      try {
        let updating = true;
        const updated = target.app.update().finally(() => {
          updating = false;
        });
        // Writes the target accepted during the update. A deployed target may restart its
        // store to apply the change: a write it refuses then (connection refused) is no
        // write at all, and the statement is about the notifications of accepted ones.
        const during: string[] = [];
        let attempt = 0;
        while (updating) {
          const key = `during/${attempt++}`;
          try {
            await s3().send(new PutObjectCommand({ Bucket: on("plain"), Key: key, Body: key }));
            during.push(key);
          } catch (error) {
            if (!isUnreachable(error)) throw error;
            await new Promise((resolve) => setTimeout(resolve, 50));
          }
        }
        await updated;
        await target.app.bucket("plain").put("after.txt", "after");
        const keys = (await events()).map((event) => event.detail.object.key);
        expect(keys).toEqual([...during.filter((key) => keys.includes(key)), "after.txt"]);
      } finally {
        await writeFile(file, original);
        await target.app.update();
      }
    },
  );
});

/** Whether an S3 call failed because nothing answered (a store restarting), not with an S3 error. */
function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EPIPE";
}
