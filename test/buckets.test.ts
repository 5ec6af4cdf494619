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

function putObject(
  key: string,
  body: string | Uint8Array | ReadableStream<Uint8Array>,
  headers: Record<string, string> = {},
): Promise<Response> {
  return emu.fetch(`/objects/${encodeURIComponent(key)}`, { method: "PUT", body, headers });
}

function getObject(key: string, headers: Record<string, string> = {}): Promise<Response> {
  return emu.fetch(`/objects/${encodeURIComponent(key)}`, { headers });
}

/** A response's JSON, as the loosely typed value these checks take apart. */
const json = (response: Response): Promise<any> => response.json();

const md5 = (data: string | Uint8Array) => createHash("md5").update(data).digest("hex");

describe("bucket binding: put and get", () => {
  it("put: takes a string, an ArrayBuffer, a typed array, a DataView, a Blob and a stream alike", async () => {
    const text = "zoë wrote 🧾";
    const response = await emu.fetch("/call", { method: "POST", headers: { "x-kinds": encodeURI(text) } });
    const etags = await json(response);
    const expected = md5(encodeURI(text));
    for (const kind of ["string", "arrayBuffer", "view", "dataView", "blob", "stream"]) {
      expect(etags[kind], kind).toBe(expected);
      expect(etags[`${kind}:read`], kind).toBe(encodeURI(text));
    }
  });

  it("put: returns what was stored; get returns the body, content type, metadata and upload time", async () => {
    const put = await putObject("docs/readme.txt", "hello, bucket", {
      "content-type": "text/plain",
      "x-metadata": JSON.stringify({ Author: "ada", lang: "en" }),
    });
    const info = await json(put);
    expect(info).toMatchObject({
      key: "docs/readme.txt",
      size: 13,
      etag: md5("hello, bucket"),
      contentType: "text/plain",
      metadata: { author: "ada", lang: "en" },
    });
    expect(info.uploaded).toBe(new Date(emu.clock.now()).toISOString());

    const got = await getObject("docs/readme.txt");
    expect(got.status).toBe(200);
    expect(await got.text()).toBe("hello, bucket");
    expect(got.headers.get("content-type")).toBe("text/plain");
    expect(got.headers.get("etag")).toBe(md5("hello, bucket"));
    expect(JSON.parse(got.headers.get("x-metadata")!)).toEqual({ author: "ada", lang: "en" });
    expect(got.headers.get("x-uploaded")).toBe(info.uploaded);
  });

  it("put: a content type defaults to application/octet-stream", async () => {
    expect((await call("put", "plain", "x")).result.contentType).toBe("application/octet-stream");
  });

  it("get: a missing key is null", async () => {
    expect((await getObject("nope")).status).toBe(404);
    expect((await call("get", "nope")).result).toBeNull();
  });

  it("get: ranges by offset and length, by offset to the end, and by suffix", async () => {
    await putObject("digits", "0123456789");
    const read = async (range: unknown) => {
      const response = await getObject("digits", { "x-range": JSON.stringify(range) });
      return { text: await response.text(), range: JSON.parse(response.headers.get("x-range")!) };
    };
    expect(await read({ offset: 2, length: 3 })).toEqual({ text: "234", range: { offset: 2, length: 3 } });
    expect(await read({ offset: 7 })).toEqual({ text: "789", range: { offset: 7, length: 3 } });
    expect(await read({ suffix: 4 })).toEqual({ text: "6789", range: { offset: 6, length: 4 } });
    expect(await read({ offset: 8, length: 100 })).toEqual({ text: "89", range: { offset: 8, length: 2 } });
  });

  it("get: a range past the end fails naming the bucket, the key and the size", async () => {
    await putObject("short", "abc");
    const { error } = await call("get", "short", { range: { offset: 10 } });
    expect(error.code).toBe("NIMBUS_BUCKET_RANGE");
    expect(error.message).toBe(
      'bucket "uploads", key "short": range offset 10 is past the end of the object (3 bytes)',
    );
  });

  it("get: a large object's range is read from the middle of its file", async () => {
    const body = new Uint8Array(300_000).map((_, i) => i % 251);
    await putObject("large/range", body);
    const response = await getObject("large/range", { "x-range": JSON.stringify({ offset: 100_000, length: 70_000 }) });
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(body.subarray(100_000, 170_000));
  });

  it("get: onlyIf conditions on ETag and upload time make a failed get null", async () => {
    const { etag, uploaded } = (await call("put", "cond", "v1")).result;
    const onlyIf = (conditions: unknown) => getObject("cond", { "x-only-if": JSON.stringify(conditions) });
    expect((await onlyIf({ etagMatches: etag })).status).toBe(200);
    expect((await onlyIf({ etagMatches: `"${etag}"` })).status).toBe(200);
    expect((await onlyIf({ etagMatches: "0000" })).status).toBe(404);
    expect((await onlyIf({ etagDoesNotMatch: etag })).status).toBe(404);
    expect((await onlyIf({ etagDoesNotMatch: "0000" })).status).toBe(200);
    const later = new Date(Date.parse(uploaded) + 1000).toISOString();
    expect((await onlyIf({ uploadedBefore: later })).status).toBe(200);
    expect((await onlyIf({ uploadedBefore: uploaded })).status).toBe(404);
    expect((await onlyIf({ uploadedAfter: later })).status).toBe(404);
  });

  it("put: onlyIf makes create-only and compare-and-swap writes; a failed one writes nothing", async () => {
    const createOnly = { "x-only-if": JSON.stringify({ etagDoesNotMatch: "*" }) };
    expect((await putObject("lock", "first", createOnly)).status).toBe(200);
    const second = await json(await putObject("lock", "second", createOnly));
    expect(second.error.code).toBe("NIMBUS_BUCKET_PRECONDITION");
    expect(second.error.message).toMatch(/^bucket "uploads", key "lock": a condition failed against the stored object/);
    expect(await (await getObject("lock")).text()).toBe("first");

    const swap = (etag: string, body: string) =>
      putObject("lock", body, { "x-only-if": JSON.stringify({ etagMatches: etag }) });
    expect((await swap(md5("first"), "third")).status).toBe(200);
    expect((await swap(md5("first"), "fourth")).status).toBe(400);
    expect(await (await getObject("lock")).text()).toBe("third");
  });

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
});

describe("bucket binding: head, delete and list", () => {
  it("head: returns the metadata without the body, or null", async () => {
    await putObject("head/me", "12345", { "content-type": "text/csv" });
    const { result } = await call("head", "head/me");
    expect(result).toMatchObject({ key: "head/me", size: 5, etag: md5("12345"), contentType: "text/csv" });
    expect(result).not.toHaveProperty("body");
    expect((await call("head", "head/none")).result).toBeNull();
  });

  it("delete: removes one key or many; a missing key is not an error", async () => {
    for (const key of ["del/a", "del/b", "del/c"]) await call("put", key, key);
    expect(await call("delete", "del/a")).toEqual({ result: null });
    expect(await call("delete", ["del/b", "del/c", "del/never"])).toEqual({ result: null });
    expect((await call("list", { prefix: "del/" })).result.objects).toEqual([]);
  });

  it("delete: more than 1,000 keys at once is refused with a clear error", async () => {
    const { error } = await call(
      "delete",
      Array.from({ length: 1001 }, (_, i) => `k${i}`),
    );
    expect(error.code).toBe("NIMBUS_BUCKET_ARGUMENT");
    expect(error.message).toContain("delete takes at most 1000 keys at once");
  });

  it("list: prefix, delimiter, limit and cursor page through every key once, in byte order", async () => {
    // Byte order: "z" (0x7a) before "é" (0xc3 0xa9) before "😀" (0xf0 …).
    const keys = ["tree/a/1", "tree/a/2", "tree/b", "tree/c/1", "tree/d", "tree/z", "tree/é", "tree/😀"];
    for (const key of [...keys].reverse()) await call("put", key, key);
    const all = await call("list", { prefix: "tree/" });
    expect(all.result.objects.map((o: { key: string }) => o.key)).toEqual(keys);
    expect(all.result.objects[0]).toEqual({
      key: "tree/a/1",
      size: 8,
      etag: md5("tree/a/1"),
      uploaded: expect.any(String),
    });

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const { result } = await call("list", { prefix: "tree/", delimiter: "/", limit: 2, cursor });
      seen.push(...result.prefixes, ...result.objects.map((o: { key: string }) => o.key));
      cursor = result.truncated ? result.cursor : undefined;
      pages++;
    } while (cursor);
    expect(seen.sort()).toEqual(["tree/a/", "tree/b", "tree/c/", "tree/d", "tree/z", "tree/é", "tree/😀"].sort());
    expect(pages).toBe(4);
  });

  it("list: a limit outside 1 to 1,000 and a made-up cursor get clear errors", async () => {
    expect((await call("list", { limit: 0 })).error.message).toBe(
      'bucket "uploads": list limit must be a whole number from 1 to 1000; found 0',
    );
    expect((await call("list", { cursor: "not a cursor!" })).error.code).toBe("NIMBUS_BUCKET_ARGUMENT");
  });
});

describe("bucket binding: keys are bytes, never paths", () => {
  const keys = [
    "../escape",
    "../../../../etc/passwd",
    "a//b",
    "/leading",
    "trailing/",
    "100%",
    "%2e%2e%2f",
    "café",
    "cafe\u0301",
    ".",
    "..",
    "a/./b",
    "a/../b",
    // With "keys/" in front, each is exactly 1,024 bytes.
    "x".repeat(1019),
    `${"é".repeat(509)}x`,
    "with\nnewline",
    " spaced ",
  ];

  it("put: every valid S3 key is its own object, listed exactly as written, in S3's byte order", async () => {
    for (const [index, key] of keys.entries()) {
      const { error } = await call("put", `keys/${key}`, `body ${index}`);
      expect(error, key).toBeUndefined();
    }
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const { result } = await call("list", { prefix: "keys/", cursor });
      listed.push(...result.objects.map((o: { key: string }) => o.key));
      cursor = result.truncated ? result.cursor : undefined;
    } while (cursor);
    const written = keys.map((key) => `keys/${key}`);
    const byteOrder = [...written].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(listed).toEqual(byteOrder);
    for (const [index, key] of written.entries()) {
      expect((await call("get", key)).text, key).toBe(`body ${index}`);
    }
  });

  it("put: nothing is written outside the bucket's folder, and no file is named after a key", async () => {
    const stateEntries = (await readdir(emu.state)).sort();
    expect(stateEntries).toEqual(["buckets", "build", "credentials.json", "queues"]);
    expect((await readdir(join(emu.state, "buckets"))).sort()).toEqual(["archive", "uploads"]);
    const bucketFiles = (await readdir(join(emu.state, "buckets", "uploads"))).sort();
    expect(bucketFiles.filter((name) => !/^index\.sqlite(-wal|-shm)?$/.test(name))).toEqual(["blobs"]);
    for (const name of await readdir(join(emu.state, "buckets", "uploads", "blobs"))) {
      expect(name).toMatch(/^[0-9a-f]{32}$/);
    }
    expect(await readdir(join(emu.state, "buckets", "archive", "blobs"))).toEqual([]);
  });

  it("put: an empty key, a key over 1,024 bytes and a lone surrogate are refused, naming the bucket and key", async () => {
    expect((await call("put", "", "x")).error).toMatchObject({
      code: "NIMBUS_BUCKET_KEY",
      message: 'bucket "uploads", key "": a key cannot be empty. Give the object a name.',
    });
    expect((await call("put", "é".repeat(513), "x")).error.message).toMatch(
      /^bucket "uploads", key "é+…é+": the key is 1,026 bytes of UTF-8; S3 keys are at most 1,024. Use a shorter key.$/,
    );
    // JSON carries the lone surrogate as an escape, so it reaches the handler as written.
    const response = await emu.fetch("/call", {
      method: "POST",
      body: '{"method":"put","args":["bad\\ud800","x"]}',
    });
    expect((await json(response)).error.code).toBe("NIMBUS_BUCKET_KEY");
  });
});

describe("bucket binding: presigned URLs", () => {
  it("presign: a GET URL serves the object to a plain HTTP client until it expires", async () => {
    await putObject("shared/report.csv", "a,b\n1,2\n", { "content-type": "text/csv" });
    const { result: url } = await call("presign", "shared/report.csv", { method: "GET", expiresIn: "10m" });
    expect(new URL(url).origin).toBe(emu.url);

    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv");
    expect(response.headers.get("etag")).toBe(`"${md5("a,b\n1,2\n")}"`);
    expect(await response.text()).toBe("a,b\n1,2\n");
    const ranged = await fetch(url, { headers: { range: "bytes=4-" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe("bytes 4-7/8");
    expect(await ranged.text()).toBe("1,2\n");

    await emu.clock.advance("10m");
    const expired = await fetch(url);
    expect(expired.status).toBe(403);
    expect((await json(expired)).error).toMatchObject({
      code: "NIMBUS_PRESIGN_EXPIRED",
      message: expect.stringContaining('for key "shared/report.csv" in bucket "uploads" expired at'),
    });
  });

  it("presign: a PUT URL stores the body with its content type; the binding reads it", async () => {
    const { result: url } = await call("presign", "inbox/upload.json", { method: "PUT", expiresIn: 60 });
    const response = await fetch(url, {
      method: "PUT",
      body: '{"ok":true}',
      headers: { "content-type": "application/json" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("etag")).toBe(`"${md5('{"ok":true}')}"`);
    expect(await call("get", "inbox/upload.json")).toMatchObject({
      contentType: "application/json",
      text: '{"ok":true}',
    });
  });

  it("presign: a URL with any part changed, or used with another method, is refused", async () => {
    await call("put", "guarded", "secret");
    const { result } = await call("presign", "guarded", { method: "GET", expiresIn: "1h" });
    const url = new URL(result);
    const tampered = (change: (u: URL) => void) => {
      const copy = new URL(url);
      change(copy);
      return fetch(copy);
    };
    for (const change of [
      (u: URL) => u.searchParams.set("key", "other"),
      (u: URL) => u.searchParams.set("expires", String(Number(u.searchParams.get("expires")) + 3600)),
      (u: URL) => u.searchParams.set("method", "PUT"),
      (u: URL) => {
        u.pathname = u.pathname.replace("/uploads/", "/archive/");
      },
      (u: URL) => u.searchParams.set("signature", `${u.searchParams.get("signature")!.slice(0, -2)}AA`),
    ]) {
      const response = await tampered(change);
      expect(response.status).toBe(403);
      expect((await json(response)).error.code).toBe("NIMBUS_PRESIGN_INVALID");
    }
    const wrongMethod = await fetch(url, { method: "PUT", body: "overwrite" });
    expect(wrongMethod.status).toBe(403);
    expect((await json(wrongMethod)).error.code).toBe("NIMBUS_PRESIGN_METHOD");
    expect((await call("get", "guarded")).text).toBe("secret");
  });

  it("presign: an expiry over 7 days or under a second is refused", async () => {
    expect((await call("presign", "k", { method: "GET", expiresIn: "8 days" })).error.message).toContain(
      "presign expiresIn must be a duration from 1 second to 7 days",
    );
    expect((await call("presign", "k", { method: "GET", expiresIn: 0 })).error.code).toBe("NIMBUS_BUCKET_ARGUMENT");
  });
});

describe("bucket binding: least privilege", () => {
  it("env: a function that links no bucket has none", async () => {
    expect(await json(await emu.fetch("/outsider/env"))).toEqual({ keys: [] });
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
  it("bucket: offers the binding's methods to tests, on the same objects the functions see", async () => {
    const bucket = emu.bucket("uploads");
    await bucket.put("seeded/by-test.txt", "from the test", { contentType: "text/plain" });
    expect(await call("get", "seeded/by-test.txt")).toMatchObject({ text: "from the test", contentType: "text/plain" });
    await call("put", "seeded/by-function.txt", "from the function");
    const object = await bucket.get("seeded/by-function.txt");
    expect(await object?.text()).toBe("from the function");
    expect((await bucket.list({ prefix: "seeded/" })).objects.map((o) => o.key)).toEqual([
      "seeded/by-function.txt",
      "seeded/by-test.txt",
    ]);
    expect(await bucket.head("seeded/none")).toBeNull();
    const url = await bucket.presign("seeded/by-test.txt", { method: "GET", expiresIn: "1m" });
    expect(await (await fetch(url)).text()).toBe("from the test");
  });

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
});

describe("bucket state", () => {
  it("reload: objects stay when the app is reloaded", async () => {
    await emu.bucket("archive").put("kept", "across reloads");
    await emu.reload();
    expect(await (await emu.bucket("archive").get("kept"))?.text()).toBe("across reloads");
  });

  it("restart: objects stay when the emulator restarts on the same state folder", async () => {
    const state = join(root, ".nimbus");
    const first = await createEmulator({ root, watch: false, state });
    await first.bucket("archive").put("durable", "across restarts", { metadata: { v: "1" } });
    await first.close();
    const second = await createEmulator({ root, watch: false, state });
    try {
      const object = await second.bucket("archive").get("durable");
      expect(await object?.text()).toBe("across restarts");
      expect(object?.metadata).toEqual({ v: "1" });
    } finally {
      await second.close();
    }
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
