// The deployed host's bucket transport end to end: `bucketClient` over `s3Transport`, the
// same table run against two independent S3 implementations, the emulator's S3 endpoint
// and s3rver (an S3 fake from npm), each over 127.0.0.1.
//
// Where s3rver falls short of S3, the transport still keeps its promise and the test
// checks the promise; the differences:
// - s3rver ignores conditional-write headers on PUT, so its transport uses
//   `conditionalWrites: "check-first"` (a HEAD checks the conditions before the write);
// - it ignores If-Match and If-Unmodified-Since on GET, which the transport checks again
//   against the object served;
// - it reads a suffix range `bytes=-n` as `bytes=0-n`, which the transport notices from
//   Content-Range and asks again by offset;
// - what it cannot do, the test states per target (`quirks`): it gives a multipart object
//   the plain MD5 of its bytes as ETag; it makes continuation tokens with DES, which
//   Node's OpenSSL 3 no longer has, so a truncated ListObjectsV2 page fails with a 500;
//   it checks no SigV4 signature (only the access key id), so it cannot refuse a
//   presigned URL used with another method, nor a wrong secret.
import { createHash } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NimbusError } from "@nimbus/core";
import { createEmulator } from "@nimbus/emulator";
import type { BucketClient } from "@nimbus/runtime";
import { type S3BucketTransport, type S3TransportOptions, s3Transport } from "@nimbus/runtime/host";
import { bucketClient } from "@nimbus/runtime/target";
import S3rver from "s3rver";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";

interface Store {
  options: S3TransportOptions;
  close(): Promise<void>;
}

interface Quirks {
  /** A multipart upload's ETag is S3's `<md5 of part MD5s>-<parts>`. */
  multipartEtag: boolean;
  /** ListObjectsV2 can return a truncated page with a continuation token. */
  pagedListing: boolean;
  /** SigV4 signatures are checked, so a wrong secret or a presigned URL's method is refused. */
  checksSignatures: boolean;
}

const targets: { name: string; quirks: Quirks; start: () => Promise<Store> }[] = [
  {
    name: "emulator S3 endpoint",
    quirks: { multipartEtag: true, pagedListing: true, checksSignatures: true },
    async start() {
      const copy = await copyFixture("buckets");
      const emu = await createEmulator({ root: copy.dir, watch: false });
      const { endpoint, region, accessKeyId, secretAccessKey } = emu.s3;
      return {
        options: { endpoint, region, credentials: { accessKeyId, secretAccessKey }, bucket: "uploads" },
        async close() {
          await emu.close();
          await copy.remove();
        },
      };
    },
  },
  {
    name: "s3rver",
    quirks: { multipartEtag: false, pagedListing: false, checksSignatures: false },
    async start() {
      const directory = await mkdtemp(join(tmpdir(), "nimbus-s3rver-"));
      const server = new S3rver({
        port: 0,
        address: "127.0.0.1",
        silent: true,
        directory,
        configureBuckets: [{ name: "host-bucket", configs: [] }],
      });
      const { port } = await server.run();
      return {
        options: {
          endpoint: `http://127.0.0.1:${port}`,
          region: "us-east-1",
          // s3rver's fixed credentials.
          credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
          bucket: "host-bucket",
          conditionalWrites: "check-first",
        },
        async close() {
          await server.close();
          await rm(directory, { recursive: true, force: true });
        },
      };
    },
  },
];

const MiB = 1024 * 1024;
const md5 = (data: string | Uint8Array) => createHash("md5").update(data).digest("hex");

/** The NimbusError a promise rejects with. */
async function failure(promise: Promise<unknown>): Promise<NimbusError> {
  try {
    await promise;
  } catch (error) {
    if (NimbusError.is(error)) return error;
    throw error;
  }
  throw new Error("expected a NimbusError");
}

/** `size` bytes in chunks of 64 KiB, a pattern that differs per chunk, and the MD5 of all. */
function patterned(size: number): { stream: ReadableStream<Uint8Array>; md5: string } {
  const hash = createHash("md5");
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < size; at += 64 * 1024) {
    const chunk = new Uint8Array(Math.min(64 * 1024, size - at));
    for (let i = 0; i < chunk.length; i++) chunk[i] = (at / 1024 + i * 7) & 0xff;
    hash.update(chunk);
    chunks.push(chunk);
  }
  let next = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[next++];
      if (chunk) controller.enqueue(chunk);
      else controller.close();
    },
  });
  return { stream, md5: hash.digest("hex") };
}

describe.each(targets)("s3Transport on $name", (target) => {
  let store: Store;
  let transport: S3BucketTransport;
  let bucket: BucketClient;
  const opened: S3BucketTransport[] = [];

  /** A transport with other options against the same store, closed after the suite. */
  const variant = (overrides: Partial<S3TransportOptions>): BucketClient => {
    const other = s3Transport({ ...store.options, name: "files", ...overrides });
    opened.push(other);
    return bucketClient("files", other);
  };

  beforeAll(async () => {
    store = await target.start();
    transport = s3Transport({ ...store.options, name: "files", partSize: 5 * MiB });
    bucket = bucketClient("files", transport);
  });

  afterAll(async () => {
    transport?.destroy();
    for (const other of opened) other.destroy();
    await store?.close();
  });

  it("put/get: a text body round-trips with its content type, size, unquoted ETag and upload time", async () => {
    const before = Date.now();
    const put = await bucket.put("text/hello.txt", "hello, host", { contentType: "text/plain" });
    expect(put).toMatchObject({ key: "text/hello.txt", size: 11, etag: md5("hello, host"), contentType: "text/plain" });
    // Last-Modified has whole seconds.
    expect(put.uploaded.getTime()).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(put.uploaded.getTime()).toBeLessThanOrEqual(Date.now());
    const got = await bucket.get("text/hello.txt");
    expect(got).toMatchObject({ key: "text/hello.txt", size: 11, etag: put.etag, contentType: "text/plain" });
    expect(got!.uploaded).toEqual(put.uploaded);
    expect(got!.range).toBeUndefined();
    expect(await got!.text()).toBe("hello, host");
  });

  it("put/get: bytes round-trip exactly, and a body without a content type is application/octet-stream", async () => {
    const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
    const put = await bucket.put("bytes/all", bytes);
    expect(put).toMatchObject({ size: 256, etag: md5(bytes), contentType: "application/octet-stream" });
    const got = await bucket.get("bytes/all");
    expect(await got!.bytes()).toEqual(bytes);
  });

  it("put/get: an empty body is stored as an empty object", async () => {
    expect(await bucket.put("bytes/empty", new Uint8Array())).toMatchObject({ size: 0, etag: md5("") });
    expect(await (await bucket.get("bytes/empty"))!.text()).toBe("");
  });

  it("put/get: a stream of several MiB goes up in parts and comes back as a stream", async () => {
    const size = 11 * MiB + 123;
    const { stream, md5: expected } = patterned(size);
    const put = await bucket.put("stream/big.bin", stream, { contentType: "application/x-big" });
    expect(put).toMatchObject({ size, contentType: "application/x-big" });
    // Three parts of 5 MiB: S3's multipart ETag, `<md5 of the part MD5s>-<parts>`.
    expect(put.etag).toMatch(target.quirks.multipartEtag ? /^[0-9a-f]{32}-3$/ : /^[0-9a-f]{32}$/);
    const got = await bucket.get("stream/big.bin");
    expect(got!.size).toBe(size);
    const hash = createHash("md5");
    let chunks = 0;
    for await (const chunk of got!.body) {
      hash.update(chunk);
      chunks++;
    }
    expect(hash.digest("hex")).toBe(expected);
    expect(chunks).toBeGreaterThan(1);
  });

  it("put: a small stream is stored in one PUT, with its plain MD5 ETag", async () => {
    const stream = new Blob(["small ", "stream"]).stream();
    expect(await bucket.put("stream/small", stream)).toMatchObject({ size: 12, etag: md5("small stream") });
    expect(await (await bucket.get("stream/small"))!.text()).toBe("small stream");
  });

  it("get: range reads serve the asked bytes and say which (offset/length, offset, suffix, past the end)", async () => {
    await bucket.put("range/digits", "0123456789");
    const part = await bucket.get("range/digits", { range: { offset: 2, length: 3 } });
    expect(part!.range).toEqual({ offset: 2, length: 3 });
    expect(part!.size).toBe(10);
    expect(await part!.text()).toBe("234");
    const rest = await bucket.get("range/digits", { range: { offset: 7 } });
    expect(rest!.range).toEqual({ offset: 7, length: 3 });
    expect(await rest!.text()).toBe("789");
    const suffix = await bucket.get("range/digits", { range: { suffix: 4 } });
    expect(suffix!.range).toEqual({ offset: 6, length: 4 });
    expect(await suffix!.text()).toBe("6789");
    const long = await bucket.get("range/digits", { range: { offset: 8, length: 100 } });
    expect(long!.range).toEqual({ offset: 8, length: 2 });
    expect(await long!.text()).toBe("89");
    const none = await bucket.get("range/digits", { range: { offset: 3, length: 0 } });
    expect(none!.range).toEqual({ offset: 3, length: 0 });
    expect(await none!.text()).toBe("");
    const past = await failure(bucket.get("range/digits", { range: { offset: 10 } }));
    expect(past.code).toBe("NIMBUS_BUCKET_RANGE");
    expect(past.message).toContain('bucket "files", key "range/digits"');
  });

  it("get: conditions that fail return null, conditions that hold return the object", async () => {
    const put = await bucket.put("cond/get", "v1");
    const second = 1000;
    const holds = [
      { etagMatches: put.etag },
      { etagMatches: `"${put.etag}"` },
      { etagDoesNotMatch: "0123456789abcdef0123456789abcdef" },
      { uploadedAfter: new Date(put.uploaded.getTime() - second) },
      { uploadedBefore: new Date(put.uploaded.getTime() + second) },
    ];
    for (const onlyIf of holds)
      expect(await (await bucket.get("cond/get", { onlyIf }))?.text(), JSON.stringify(onlyIf)).toBe("v1");
    const fails = [
      { etagMatches: "0123456789abcdef0123456789abcdef" },
      { etagDoesNotMatch: put.etag },
      { etagDoesNotMatch: "*" },
      { uploadedAfter: put.uploaded },
      { uploadedBefore: new Date(put.uploaded.getTime() - second) },
    ];
    for (const onlyIf of fails) expect(await bucket.get("cond/get", { onlyIf }), JSON.stringify(onlyIf)).toBeNull();
  });

  it("put: conditions that fail throw NIMBUS_BUCKET_PRECONDITION and write nothing; those that hold write", async () => {
    const first = await bucket.put("cond/put", "v1", { onlyIf: { etagDoesNotMatch: "*" } });
    const refused = await failure(bucket.put("cond/put", "v2", { onlyIf: { etagDoesNotMatch: "*" } }));
    expect(refused.code).toBe("NIMBUS_BUCKET_PRECONDITION");
    expect(refused.message).toContain('bucket "files", key "cond/put"');
    expect((await failure(bucket.put("cond/put", "v2", { onlyIf: { etagMatches: md5("something else") } }))).code).toBe(
      "NIMBUS_BUCKET_PRECONDITION",
    );
    expect(
      (
        await failure(
          bucket.put("cond/put", "v2", { onlyIf: { uploadedBefore: new Date(first.uploaded.getTime() - 1000) } }),
        )
      ).code,
    ).toBe("NIMBUS_BUCKET_PRECONDITION");
    expect((await failure(bucket.put("cond/put", "v2", { onlyIf: { etagDoesNotMatch: first.etag } }))).code).toBe(
      "NIMBUS_BUCKET_PRECONDITION",
    );
    expect(await (await bucket.get("cond/put"))!.text()).toBe("v1");

    const second = await bucket.put("cond/put", "v2", { onlyIf: { etagMatches: first.etag } });
    expect(second.etag).toBe(md5("v2"));
    await bucket.put("cond/put", "v3", { onlyIf: { uploadedAfter: new Date(second.uploaded.getTime() - 1000) } });
    expect(await (await bucket.get("cond/put"))!.text()).toBe("v3");
    expect((await failure(bucket.put("cond/missing", "x", { onlyIf: { etagMatches: first.etag } }))).code).toBe(
      "NIMBUS_BUCKET_PRECONDITION",
    );
    expect(await bucket.head("cond/missing")).toBeNull();
  });

  it("put: a condition on a streamed body is honoured too", async () => {
    await bucket.put("cond/stream", "v1");
    const refused = await failure(
      bucket.put("cond/stream", new Blob(["v2"]).stream(), { onlyIf: { etagDoesNotMatch: "*" } }),
    );
    expect(refused.code).toBe("NIMBUS_BUCKET_PRECONDITION");
    expect(await (await bucket.get("cond/stream"))!.text()).toBe("v1");
  });

  it("head: describes an object without its body; a missing key is null", async () => {
    const put = await bucket.put("head/a.json", '{"a":1}', { contentType: "application/json", metadata: { n: "1" } });
    expect(await bucket.head("head/a.json")).toEqual(put);
    expect(await bucket.head("head/missing")).toBeNull();
  });

  it("put/get: metadata round-trips as x-amz-meta-*, names lower-cased, non-ASCII values intact", async () => {
    const metadata = { Author: "Ada", note: "naïve café ☕", empty: "" };
    const put = await bucket.put("meta/doc", "body", { metadata });
    const expected = { author: "Ada", note: "naïve café ☕", empty: "" };
    expect(put.metadata).toEqual(expected);
    expect((await bucket.get("meta/doc"))!.metadata).toEqual(expected);
    expect((await bucket.head("meta/doc"))!.metadata).toEqual(expected);
  });

  it("list: prefix, delimiter, cursor and limit page through keys in S3's order", async () => {
    const keys = ["list/a", "list/b/1", "list/b/2", "list/c", "list/d/1", "list/e"];
    for (const key of keys) await bucket.put(key, key);
    const all = await bucket.list({ prefix: "list/" });
    expect(all.objects.map((object) => object.key)).toEqual(keys);
    expect(all.truncated).toBe(false);
    expect(all.cursor).toBeUndefined();
    expect(all.objects[0]).toMatchObject({ key: "list/a", size: 6, etag: md5("list/a") });
    expect(all.objects[0]!.uploaded).toBeInstanceOf(Date);

    const grouped = await bucket.list({ prefix: "list/", delimiter: "/" });
    expect(grouped.objects.map((object) => object.key)).toEqual(["list/a", "list/c", "list/e"]);
    expect(grouped.prefixes).toEqual(["list/b/", "list/d/"]);

    expect((await failure(bucket.list({ limit: 0 }))).code).toBe("NIMBUS_BUCKET_ARGUMENT");
    if (!target.quirks.pagedListing) {
      // The store's failure comes back as a clear error, not as a short listing.
      const error = await failure(bucket.list({ prefix: "list/", limit: 4 }));
      expect(error.code).toBe("NIMBUS_BUCKET_STORE");
      expect(error.message).toContain("ListObjectsV2");
      return;
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await bucket.list({ prefix: "list/", limit: 4, ...(cursor ? { cursor } : {}) });
      expect(page.objects.length).toBeLessThanOrEqual(4);
      seen.push(...page.objects.map((object) => object.key));
      expect(page.truncated).toBe(page.cursor !== undefined);
      cursor = page.cursor;
      pages++;
    } while (cursor);
    expect(seen).toEqual(keys);
    expect(pages).toBe(2);
  });

  it("delete: removes one key or many; keys that do not exist are not an error", async () => {
    for (const key of ["del/1", "del/2", "del/3", "del/4"]) await bucket.put(key, key);
    await bucket.delete("del/1");
    expect(await bucket.get("del/1")).toBeNull();
    await bucket.delete(["del/2", "del/3", "del/never"]);
    expect((await bucket.list({ prefix: "del/" })).objects.map((object) => object.key)).toEqual(["del/4"]);
    await bucket.delete("del/never");
    await bucket.delete([]);
  });

  it("presign: a GET URL and a PUT URL work with plain fetch", async () => {
    await bucket.put("presign/read me.txt", "shared");
    const getUrl = await bucket.presign("presign/read me.txt", { method: "GET", expiresIn: "5m" });
    const read = await fetch(getUrl);
    expect(read.status).toBe(200);
    expect(await read.text()).toBe("shared");

    const putUrl = await bucket.presign("presign/upload.txt", { method: "PUT", expiresIn: 300 });
    const written = await fetch(putUrl, { method: "PUT", body: "uploaded by URL" });
    expect(written.status).toBe(200);
    expect(await (await bucket.get("presign/upload.txt"))!.text()).toBe("uploaded by URL");

    if (target.quirks.checksSignatures) {
      // The method is signed: a GET URL does not write.
      expect((await fetch(getUrl, { method: "PUT", body: "nope" })).status).toBe(403);
      expect(await bucket.head("presign/read me.txt")).toMatchObject({ size: 6 });
    }
  });

  it("get: a missing key is null", async () => {
    expect(await bucket.get("missing/key")).toBeNull();
    expect(await bucket.get("missing/key", { range: { offset: 0, length: 1 } })).toBeNull();
  });

  it("errors: wrong credentials fail with NIMBUS_BUCKET_STORE_ACCESS naming the bucket, operation and endpoint", async () => {
    const wrong = variant({
      credentials: target.quirks.checksSignatures
        ? { ...store.options.credentials, secretAccessKey: "not-the-secret" }
        : { accessKeyId: "NOT-A-KEY", secretAccessKey: "not-the-secret" },
    });
    const error = await failure(wrong.get("text/hello.txt"));
    expect(error.code).toBe("NIMBUS_BUCKET_STORE_ACCESS");
    expect(error.message).toContain('bucket "files"');
    expect(error.message).toContain("GetObject");
    expect(error.message).toContain(store.options.endpoint);
    expect(error.message).toContain("store credentials");
    expect((await failure(wrong.put("x", "y"))).code).toBe("NIMBUS_BUCKET_STORE_ACCESS");
  });

  it("errors: a bucket the store does not have fails with NIMBUS_BUCKET_STORE_NO_BUCKET", async () => {
    const error = await failure(variant({ bucket: "no-such-bucket" }).put("x", "y"));
    expect(error.code).toBe("NIMBUS_BUCKET_STORE_NO_BUCKET");
    expect(error.message).toContain('store bucket "no-such-bucket"');
  });
});

describe("s3Transport without a store", () => {
  it("errors: an endpoint nobody listens on fails with NIMBUS_BUCKET_STORE_UNREACHABLE", async () => {
    // A port that was free a moment ago.
    const port = await new Promise<number>((resolve) => {
      const server = createServer().listen(0, "127.0.0.1", () => {
        const { port } = server.address() as { port: number };
        server.close(() => resolve(port));
      });
    });
    const endpoint = `http://127.0.0.1:${port}`;
    const transport = s3Transport({
      endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "a", secretAccessKey: "b" },
      bucket: "gone",
    });
    try {
      const error = await failure(bucketClient("files", transport).get("k"));
      expect(error.code).toBe("NIMBUS_BUCKET_STORE_UNREACHABLE");
      expect(error.message).toContain(endpoint);
      expect(error.message).toContain("ECONNREFUSED");
    } finally {
      transport.destroy();
    }
  });
});
