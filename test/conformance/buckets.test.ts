// The bucket binding of docs/buckets.md on every target: each method and its errors
// through a function's binding (the `files` routes of test/fixtures/buckets) and through
// `app.bucket()`, presigned URLs used by a plain HTTP client, and objects kept across an
// update, a restart and a kill -9.
import { createHash } from "node:crypto";
import { expect } from "vitest";
import { conformance, fixture } from "./conformance.ts";
import { expectAbout, waitFor } from "./real-time.ts";

const md5 = (data: string | Uint8Array) => createHash("md5").update(data).digest("hex");

/** A response's JSON, as the loosely typed value these checks take apart. */
const json = (response: Response): Promise<any> => response.json();

conformance("bucket binding", { app: fixture("buckets"), manualClock: true }, (target) => {
  /** Runs a binding method inside the `files` function and returns its JSON answer. */
  async function call(
    method: string,
    ...args: unknown[]
  ): Promise<{ result?: any; error?: any } & Record<string, any>> {
    return json(await target.app.fetch("/call", { method: "POST", body: JSON.stringify({ method, args }) }));
  }

  function putObject(
    key: string,
    body: string | Uint8Array | ReadableStream<Uint8Array>,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    return target.app.fetch(`/objects/${encodeURIComponent(key)}`, {
      method: "PUT",
      body,
      headers,
      duplex: "half",
    } as RequestInit);
  }

  function getObject(key: string, headers: Record<string, string> = {}): Promise<Response> {
    return target.app.fetch(`/objects/${encodeURIComponent(key)}`, { headers });
  }

  /** Every key under `prefix`, paging through the binding's list. */
  async function listAll(prefix: string): Promise<string[]> {
    const listed: string[] = [];
    let cursor: string | undefined;
    do {
      const { result } = await call("list", { prefix, cursor });
      listed.push(...result.objects.map((o: { key: string }) => o.key));
      cursor = result.truncated ? result.cursor : undefined;
    } while (cursor);
    return listed;
  }

  // put and get

  target.test("put: takes a string, an ArrayBuffer, a typed array, a DataView, a Blob and a stream alike", async () => {
    const text = "zoë wrote 🧾";
    const response = await target.app.fetch("/call", { method: "POST", headers: { "x-kinds": encodeURI(text) } });
    const etags = await json(response);
    const expected = md5(encodeURI(text));
    for (const kind of ["string", "arrayBuffer", "view", "dataView", "blob", "stream"]) {
      expect(etags[kind], kind).toBe(expected);
      expect(etags[`${kind}:read`], kind).toBe(encodeURI(text));
    }
  });

  target.test(
    "put: returns what was stored; get returns the body, content type, metadata and upload time",
    async () => {
      const from = await target.app.now();
      const put = await putObject("docs/readme.txt", "hello, bucket", {
        "content-type": "text/plain",
        "x-metadata": JSON.stringify({ Author: "ada", lang: "en" }),
      });
      const to = await target.app.now();
      const info = await json(put);
      expect(info).toMatchObject({
        key: "docs/readme.txt",
        size: 13,
        etag: md5("hello, bucket"),
        contentType: "text/plain",
        metadata: { author: "ada", lang: "en" },
      });
      // S3 keeps upload times to the second.
      expect(Date.parse(info.uploaded)).toBeGreaterThanOrEqual(Math.floor(from / 1000) * 1000);
      expect(Date.parse(info.uploaded)).toBeLessThanOrEqual(to);

      const got = await getObject("docs/readme.txt");
      expect(got.status).toBe(200);
      expect(await got.text()).toBe("hello, bucket");
      expect(got.headers.get("content-type")).toBe("text/plain");
      expect(got.headers.get("etag")).toBe(md5("hello, bucket"));
      expect(got.headers.get("x-size")).toBe("13");
      expect(JSON.parse(got.headers.get("x-metadata")!)).toEqual({ author: "ada", lang: "en" });
      expect(Date.parse(got.headers.get("x-uploaded")!)).toBe(Date.parse(info.uploaded));

      const fromTest = await target.app.bucket("uploads").get("docs/readme.txt");
      expect(fromTest).toMatchObject({ size: 13, contentType: "text/plain", metadata: { author: "ada", lang: "en" } });
      expect(await fromTest?.text()).toBe("hello, bucket");
    },
  );

  target.test("put: a content type defaults to application/octet-stream", async () => {
    expect((await call("put", "plain", "x")).result.contentType).toBe("application/octet-stream");
    expect((await target.app.bucket("uploads").put("plain-too", "x")).contentType).toBe("application/octet-stream");
  });

  target.test("get: a missing key is null", async () => {
    expect((await getObject("nope")).status).toBe(404);
    expect((await call("get", "nope")).result).toBeNull();
    expect(await target.app.bucket("uploads").get("nope")).toBeNull();
  });

  target.test("get: ranges by offset and length, by offset to the end, and by suffix", async () => {
    await putObject("digits", "0123456789");
    const read = async (range: unknown) => {
      const response = await getObject("digits", { "x-range": JSON.stringify(range) });
      return { text: await response.text(), range: JSON.parse(response.headers.get("x-range")!) };
    };
    expect(await read({ offset: 2, length: 3 })).toEqual({ text: "234", range: { offset: 2, length: 3 } });
    expect(await read({ offset: 7 })).toEqual({ text: "789", range: { offset: 7, length: 3 } });
    expect(await read({ suffix: 4 })).toEqual({ text: "6789", range: { offset: 6, length: 4 } });
    expect(await read({ offset: 8, length: 100 })).toEqual({ text: "89", range: { offset: 8, length: 2 } });
    const fromTest = await target.app.bucket("uploads").get("digits", { range: { suffix: 3 } });
    expect(fromTest?.range).toEqual({ offset: 7, length: 3 });
    expect(await fromTest?.text()).toBe("789");
  });

  target.test(
    "get: a range past the end fails with NIMBUS_BUCKET_RANGE naming the bucket, the key and the size",
    async () => {
      await putObject("short", "abc");
      const { error } = await call("get", "short", { range: { offset: 10 } });
      expect(error.code).toBe("NIMBUS_BUCKET_RANGE");
      expect(error.message).toBe(
        'bucket "uploads", key "short": range offset 10 is past the end of the object (3 bytes)',
      );
      await expect(target.app.bucket("uploads").get("short", { range: { offset: 10 } })).rejects.toMatchObject({
        code: "NIMBUS_BUCKET_RANGE",
      });
    },
  );

  target.test("get: a large object's range is the bytes asked for", async () => {
    const body = new Uint8Array(300_000).map((_, i) => i % 251);
    await putObject("large/range", body);
    const response = await getObject("large/range", { "x-range": JSON.stringify({ offset: 100_000, length: 70_000 }) });
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(body.subarray(100_000, 170_000));
  });

  target.test("get: onlyIf conditions on ETag and upload time make a failed get null", async () => {
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
    expect(await target.app.bucket("uploads").get("cond", { onlyIf: { etagMatches: "0000" } })).toBeNull();
  });

  target.test(
    "put: onlyIf makes create-only and compare-and-swap writes; a failed one throws NIMBUS_BUCKET_PRECONDITION and writes nothing",
    async () => {
      const createOnly = { "x-only-if": JSON.stringify({ etagDoesNotMatch: "*" }) };
      expect((await putObject("lock", "first", createOnly)).status).toBe(200);
      const second = await json(await putObject("lock", "second", createOnly));
      expect(second.error.code).toBe("NIMBUS_BUCKET_PRECONDITION");
      expect(second.error.message).toMatch(
        /^bucket "uploads", key "lock": a condition failed against the stored object/,
      );
      await expect(
        target.app.bucket("uploads").put("lock", "third", { onlyIf: { etagDoesNotMatch: "*" } }),
      ).rejects.toMatchObject({ code: "NIMBUS_BUCKET_PRECONDITION" });
      expect(await (await getObject("lock")).text()).toBe("first");

      const swap = (etag: string, body: string) =>
        putObject("lock", body, { "x-only-if": JSON.stringify({ etagMatches: etag }) });
      expect((await swap(md5("first"), "third")).status).toBe(200);
      expect((await swap(md5("first"), "fourth")).status).toBe(400);
      expect(await (await getObject("lock")).text()).toBe("third");
    },
  );

  target.test("get: a body is read once; a second read throws NIMBUS_BUCKET_BODY", async () => {
    await call("put", "once", "x");
    const answer = await json(await getObject("once", { "x-read-twice": "1" }));
    expect(answer.error).toMatchObject({
      code: "NIMBUS_BUCKET_BODY",
      message: expect.stringContaining('bucket "uploads", key "once": the body of this object was already read'),
    });
  });

  // head, delete and list

  target.test("head: returns the metadata without the body, or null", async () => {
    await putObject("head/me", "12345", { "content-type": "text/csv" });
    const { result } = await call("head", "head/me");
    expect(result).toMatchObject({ key: "head/me", size: 5, etag: md5("12345"), contentType: "text/csv" });
    expect(result).not.toHaveProperty("body");
    expect((await call("head", "head/none")).result).toBeNull();
    expect(await target.app.bucket("uploads").head("head/me")).toMatchObject({ size: 5, contentType: "text/csv" });
    expect(await target.app.bucket("uploads").head("head/none")).toBeNull();
  });

  target.test("delete: removes one key or many; a missing key is not an error", async () => {
    for (const key of ["del/a", "del/b", "del/c", "del/d"]) await call("put", key, key);
    expect(await call("delete", "del/a")).toEqual({ result: null });
    expect(await call("delete", ["del/b", "del/c", "del/never"])).toEqual({ result: null });
    await target.app.bucket("uploads").delete(["del/d", "del/never"]);
    expect((await call("list", { prefix: "del/" })).result.objects).toEqual([]);
  });

  target.test(
    "delete: more than 1,000 keys at once is refused with NIMBUS_BUCKET_ARGUMENT; nothing is deleted",
    async () => {
      await call("put", "k0", "kept");
      const { error } = await call(
        "delete",
        Array.from({ length: 1001 }, (_, i) => `k${i}`),
      );
      expect(error.code).toBe("NIMBUS_BUCKET_ARGUMENT");
      expect(error.message).toContain("delete takes at most 1000 keys at once");
      expect((await call("head", "k0")).result).not.toBeNull();
      // 1,000 is allowed.
      expect(
        await call(
          "delete",
          Array.from({ length: 1000 }, (_, i) => `k${i}`),
        ),
      ).toEqual({ result: null });
      expect((await call("head", "k0")).result).toBeNull();
    },
  );

  target.test("list: prefix, delimiter, limit and cursor page through every key once, in byte order", async () => {
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

    const fromTest = await target.app.bucket("uploads").list({ prefix: "tree/", delimiter: "/" });
    expect(fromTest.prefixes).toEqual(["tree/a/", "tree/c/"]);
    expect(fromTest.truncated).toBe(false);
  });

  target.test("list: a limit outside 1 to 1,000 and a made-up cursor fail with NIMBUS_BUCKET_ARGUMENT", async () => {
    expect((await call("list", { limit: 0 })).error).toEqual({
      code: "NIMBUS_BUCKET_ARGUMENT",
      name: expect.any(String),
      message: 'bucket "uploads": list limit must be a whole number from 1 to 1000; found 0',
    });
    expect((await call("list", { limit: 1001 })).error.code).toBe("NIMBUS_BUCKET_ARGUMENT");
    expect((await call("list", { cursor: "not a cursor!" })).error.code).toBe("NIMBUS_BUCKET_ARGUMENT");
  });

  // keys

  target.test("put: every valid S3 key is its own object, listed exactly as written, in S3's byte order", async () => {
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
    for (const [index, key] of keys.entries()) {
      const { error } = await call("put", `keys/${key}`, `body ${index}`);
      expect(error, key).toBeUndefined();
    }
    const written = keys.map((key) => `keys/${key}`);
    const byteOrder = [...written].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(await listAll("keys/")).toEqual(byteOrder);
    for (const [index, key] of written.entries()) {
      expect((await call("get", key)).text, key).toBe(`body ${index}`);
    }
  });

  target.test(
    "put: an empty key, a key over 1,024 bytes and a lone surrogate are refused with NIMBUS_BUCKET_KEY, naming the bucket and key",
    async () => {
      expect((await call("put", "", "x")).error).toMatchObject({
        code: "NIMBUS_BUCKET_KEY",
        message: 'bucket "uploads", key "": a key cannot be empty. Give the object a name.',
      });
      expect((await call("put", "é".repeat(513), "x")).error.message).toMatch(
        /^bucket "uploads", key "é+…é+": the key is 1,026 bytes of UTF-8; S3 keys are at most 1,024. Use a shorter key.$/,
      );
      // JSON carries the lone surrogate as an escape, so it reaches the handler as written.
      const response = await target.app.fetch("/call", {
        method: "POST",
        body: '{"method":"put","args":["bad\\ud800","x"]}',
      });
      expect((await json(response)).error.code).toBe("NIMBUS_BUCKET_KEY");
      await expect(target.app.bucket("uploads").put("", "x")).rejects.toMatchObject({ code: "NIMBUS_BUCKET_KEY" });
      expect(await listAll("")).toEqual([]);
    },
  );

  // presigned URLs: used as returned, whatever their form

  target.test("presign: a GET URL serves the object, and one range, to a plain HTTP client", async () => {
    await putObject("shared/report.csv", "a,b\n1,2\n", { "content-type": "text/csv" });
    const { result: url } = await call("presign", "shared/report.csv", { method: "GET", expiresIn: "10m" });
    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv");
    expect(response.headers.get("etag")).toBe(`"${md5("a,b\n1,2\n")}"`);
    expect(await response.text()).toBe("a,b\n1,2\n");
    const ranged = await fetch(url, { headers: { range: "bytes=4-" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe("bytes 4-7/8");
    expect(await ranged.text()).toBe("1,2\n");
  });

  target.test("presign: a URL is refused with 403 once it expired", {
    manual: async () => {
      await call("put", "shared/soon.txt", "soon gone");
      const { result: url } = await call("presign", "shared/soon.txt", { method: "GET", expiresIn: "10m" });
      await target.app.advance("9m");
      expect((await fetch(url)).status).toBe(200);
      await target.app.advance("1m");
      const expired = await fetch(url);
      expect(expired.status).toBe(403);
      expect(await expired.text()).not.toContain("soon gone");
    },
    real: async () => {
      await call("put", "shared/soon.txt", "soon gone");
      const { result: url } = await call("presign", "shared/soon.txt", { method: "GET", expiresIn: "2s" });
      // The URL is valid for 2 s from its X-Amz-Date (whole seconds): served until then, refused after.
      const date = new URL(url).searchParams.get("X-Amz-Date")!;
      const signedAt = Date.parse(date.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, "$1-$2-$3T$4:$5:$6Z"));
      let response = await fetch(url);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe("soon gone");
      const refusedAt = await waitFor("the URL refused", async () => {
        const at = Date.now();
        response = await fetch(url);
        if (response.status !== 200) return at;
        await response.text();
        return false;
      });
      expect(response.status).toBe(403);
      expect(await response.text()).not.toContain("soon gone");
      expectAbout("the URL's refusal, after its X-Amz-Date", refusedAt - signedAt, 2_000);
    },
  });

  target.test("presign: a PUT URL stores the body with its content type; the binding reads it", async () => {
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

  target.test(
    "presign: a URL with its key, expiry, bucket or signature changed, or used with another method, is refused with 403",
    async () => {
      await call("put", "guarded", "secret");
      await call("put", "guardee", "other secret");
      const { result } = await call("presign", "guarded", { method: "GET", expiresIn: "1h" });
      expect((await fetch(result)).status).toBe(200);
      const url = new URL(result);
      const uploads = target.app.s3.bucketName("uploads");
      const archive = target.app.s3.bucketName("archive");
      const changes: [string, (u: URL) => void][] = [
        [
          "the key",
          (u) => {
            u.pathname = u.pathname.replace("/guarded", "/guardee");
            for (const [name, value] of u.searchParams) {
              if (value === "guarded") u.searchParams.set(name, "guardee");
            }
          },
        ],
        [
          "the expiry",
          (u) => {
            // Whatever carries the expiry is a number of seconds (a lifetime or an instant).
            for (const [name, value] of u.searchParams) {
              if (/^\d+$/.test(value)) u.searchParams.set(name, String(Number(value) + 3600));
            }
          },
        ],
        [
          "the bucket",
          (u) => {
            u.pathname = u.pathname.replace(`/${uploads}/`, `/${archive}/`);
          },
        ],
        [
          "the signature",
          (u) => {
            for (const [name, value] of u.searchParams) {
              if (/signature/i.test(name))
                u.searchParams.set(name, `${value.slice(0, -2)}${value.endsWith("AA") ? "BB" : "AA"}`);
            }
          },
        ],
      ];
      for (const [what, change] of changes) {
        const copy = new URL(url);
        change(copy);
        expect(copy.href, what).not.toBe(url.href);
        const response = await fetch(copy);
        expect(response.status, what).toBe(403);
        expect(await response.text(), what).not.toContain("secret");
      }
      const wrongMethod = await fetch(url, { method: "PUT", body: "overwrite" });
      expect(wrongMethod.status).toBe(403);
      expect((await call("get", "guarded")).text).toBe("secret");
    },
  );

  target.test("presign: an expiry over 7 days or under a second fails with NIMBUS_BUCKET_ARGUMENT", async () => {
    expect((await call("presign", "k", { method: "GET", expiresIn: "8 days" })).error).toMatchObject({
      code: "NIMBUS_BUCKET_ARGUMENT",
      message: expect.stringContaining("presign expiresIn must be a duration from 1 second to 7 days"),
    });
    expect((await call("presign", "k", { method: "GET", expiresIn: 0 })).error.code).toBe("NIMBUS_BUCKET_ARGUMENT");
    expect((await call("presign", "k", { method: "GET", expiresIn: "7 days" })).error).toBeUndefined();
  });

  target.test("presign: app.bucket hands out URLs too, on the objects the functions see", async () => {
    const bucket = target.app.bucket("uploads");
    await bucket.put("seeded/by-test.txt", "from the test", { contentType: "text/plain" });
    expect(await call("get", "seeded/by-test.txt")).toMatchObject({ text: "from the test", contentType: "text/plain" });
    await call("put", "seeded/by-function.txt", "from the function");
    expect(await (await bucket.get("seeded/by-function.txt"))?.text()).toBe("from the function");
    expect((await bucket.list({ prefix: "seeded/" })).objects.map((o) => o.key)).toEqual([
      "seeded/by-function.txt",
      "seeded/by-test.txt",
    ]);
    const url = await bucket.presign("seeded/by-test.txt", { method: "GET", expiresIn: "1m" });
    expect(await (await fetch(url)).text()).toBe("from the test");
    const upload = await bucket.presign("seeded/by-url.txt", { method: "PUT", expiresIn: "1m" });
    expect((await fetch(upload, { method: "PUT", body: "from a URL" })).status).toBe(200);
    expect((await call("get", "seeded/by-url.txt")).text).toBe("from a URL");
  });

  // least privilege

  target.test("env: a function that links no bucket has none", async () => {
    expect(await json(await target.app.fetch("/outsider/env"))).toEqual({ keys: [] });
  });

  // durability

  target.test("update: objects stay when the app is applied again", async () => {
    await target.app.bucket("archive").put("kept", "across updates");
    await call("put", "kept", "in uploads too");
    await target.app.update();
    expect(await (await target.app.bucket("archive").get("kept"))?.text()).toBe("across updates");
    expect((await call("get", "kept")).text).toBe("in uploads too");
  });

  target.test("restart: objects stay, with their metadata, when the app restarts", async () => {
    await target.app.bucket("archive").put("durable", "across restarts", { metadata: { v: "1" } });
    await putObject("durable", "through the binding", { "content-type": "text/plain" });
    await target.app.restart();
    const object = await target.app.bucket("archive").get("durable");
    expect(await object?.text()).toBe("across restarts");
    expect(object?.metadata).toEqual({ v: "1" });
    expect(await call("get", "durable")).toMatchObject({ text: "through the binding", contentType: "text/plain" });
  });

  target.test(
    "kill -9: a write cut off keeps the old object whole; every acknowledged write is kept and every listed object is whole",
    async () => {
      // The old version is large; the new one streams in and stalls half-way.
      const old = new Uint8Array(3 * 1024 * 1024).map((_, i) => i % 253);
      expect((await putObject("victim", old)).status).toBe(200);
      const settled: string[] = [];
      for (let i = 0; i < 50; i++) {
        expect((await putObject(`small/${i}`, `body ${i}`)).status).toBe(200);
        settled.push(`small/${i}`);
      }
      const chunk = new Uint8Array(1024 * 1024).fill(1);
      let sent = 0;
      let stalled!: () => void;
      const halfway = new Promise<void>((resolve) => {
        stalled = resolve;
      });
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent++ < 8) return controller.enqueue(chunk);
          // Then never again: the upload hangs until the target dies.
          stalled();
          return new Promise(() => {});
        },
      });
      const hanging = putObject("victim", body).catch((error: Error) => error);
      let writing = true;
      const writer = (async () => {
        for (let i = 0; writing; i++) {
          const response = await putObject(`racing/${i}`, `racing ${i}`).catch(() => undefined);
          if (!response) return;
          if (response.status === 200) settled.push(`racing/${i}`);
        }
      })();
      await halfway;

      writing = false;
      await target.app.kill();
      await hanging;
      await writer;

      const victim = await target.app.bucket("uploads").get("victim");
      expect(victim?.size).toBe(old.byteLength);
      expect(new Uint8Array((await victim?.arrayBuffer()) ?? new ArrayBuffer(0))).toEqual(old);

      const listed: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await target.app.bucket("uploads").list({ cursor });
        listed.push(...page.objects.map((o) => o.key));
        for (const object of page.objects) {
          const stored = await target.app.bucket("uploads").get(object.key);
          // Every object listed is whole: its body matches the ETag it was listed with.
          expect(md5(new Uint8Array((await stored?.arrayBuffer()) ?? new ArrayBuffer(0))), object.key).toBe(
            object.etag,
          );
        }
        cursor = page.truncated ? page.cursor : undefined;
      } while (cursor);
      for (const key of settled) expect(listed).toContain(key);
      expect(listed.filter((key) => !key.startsWith("small/") && !key.startsWith("racing/"))).toEqual(["victim"]);
    },
    { timeout: 90_000 },
  );
});
