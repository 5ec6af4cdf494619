import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NimbusError } from "@nimbus/core";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { inlineLimit } from "./body-writer.ts";
import { BucketStore, completionRetentionMs, type GetOptions, minPartSize, type ObjectRecord } from "./store.ts";

// Every test gets a folder of its own; the bucket lives in `<root>/receipts`, so the
// root shows whether anything was written beside the bucket's folder.
let root: string;
let opened: BucketStore[];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "nimbus-bucket-store-"));
  opened = [];
});

afterEach(() => {
  for (const store of opened) store.close();
  rmSync(root, { recursive: true, force: true });
});

interface OpenOptions {
  name?: string;
  folder?: string;
  sweep?: boolean;
  now?: () => number;
  onChange?: () => void;
}

function open(options: OpenOptions = {}): BucketStore {
  const name = options.name ?? "receipts";
  const store = new BucketStore({
    name,
    dir: join(root, options.folder ?? name),
    sweep: options.sweep,
    now: options.now,
    onChange: options.onChange,
  });
  opened.push(store);
  return store;
}

/** A clock the test drives; `beforeNextRead` runs once inside the store's next reading of it. */
function testClock(start = Date.UTC(2030, 0, 1, 12)) {
  let time = start;
  let hook: (() => void) | undefined;
  return {
    now: () => {
      const run = hook;
      hook = undefined;
      run?.();
      return time;
    },
    set(ms: number) {
      time = ms;
    },
    /** Lets another "thread" act between a store's checks and its commit: the store reads the clock just before it commits. */
    beforeNextRead(action: () => void) {
      hook = action;
    },
  };
}

function blobsOf(store: BucketStore): string[] {
  return readdirSync(join(store.dir, "blobs")).sort();
}

function md5(data: Uint8Array): string {
  return createHash("md5").update(data).digest("hex");
}

async function bytesOf(body: Uint8Array | ReadableStream<Uint8Array>): Promise<Buffer> {
  if (body instanceof Uint8Array) return Buffer.from(body);
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

/** Compares bodies by size and MD5: deep equality walks a large buffer one byte at a time. */
function expectBytes(actual: Uint8Array, expected: Uint8Array, label?: string): void {
  expect({ size: actual.byteLength, md5: md5(actual) }, label).toEqual({
    size: expected.byteLength,
    md5: md5(expected),
  });
}

async function read(store: BucketStore, key: string, options?: GetOptions): Promise<Buffer> {
  const result = await store.get(key, options);
  if (result.status !== "ok") throw new Error(`expected ${JSON.stringify(key)} to be readable; got ${result.status}`);
  return bytesOf(result.body);
}

async function caught(action: () => unknown): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  throw new Error("expected the action to fail, but it succeeded");
}

async function failsWith(action: () => unknown, code: string): Promise<NimbusError> {
  const error = await caught(action);
  if (!NimbusError.is(error)) throw new Error(`expected a NimbusError ${code}; got ${String(error)}`);
  expect(error.code).toBe(code);
  return error;
}

async function* chunksOf(...chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) yield chunk;
}

function streamOf(...chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  let next = 0;
  return new ReadableStream({
    pull(controller) {
      const chunk = chunks[next++];
      if (chunk) controller.enqueue(chunk);
      else controller.close();
    },
  });
}

/** A body that yields `before`, then waits until `resume()` (failing with `error` if given), then yields `after`. */
function pausingBody(before: Uint8Array[], after: Uint8Array[] = [], error?: Error) {
  const paused = Promise.withResolvers<void>();
  const resumed = Promise.withResolvers<void>();
  async function* body(): AsyncGenerator<Uint8Array> {
    for (const chunk of before) yield chunk;
    paused.resolve();
    await resumed.promise;
    if (error) throw error;
    for (const chunk of after) yield chunk;
  }
  return { body: body(), paused: paused.promise, resume: () => resumed.resolve() };
}

/** Every file under `dir`, as paths relative to it. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => !entry.isDirectory())
    .map((entry) => join(entry.parentPath, entry.name).slice(dir.length + 1))
    .sort();
}

const MiB = 1024 * 1024;

describe("put and get", () => {
  test("put: stores a small body in the index and get returns it with its record", async () => {
    const clock = testClock();
    const store = open({ now: clock.now });
    const body = Buffer.from("a receipt");
    const record = await store.put("r/1.txt", body, {
      contentType: "text/plain",
      headers: { "cache-control": "no-store" },
    });
    expect(record).toEqual({
      key: "r/1.txt",
      size: body.byteLength,
      etag: md5(body),
      contentType: "text/plain",
      metadata: {},
      headers: { "cache-control": "no-store" },
      uploaded: clock.now(),
    });
    const result = await store.get("r/1.txt");
    expect(result).toMatchObject({ status: "ok", object: record, range: { offset: 0, length: body.byteLength } });
    if (result.status !== "ok") return;
    expect(result.body).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(result.body as Uint8Array)).toEqual(body);
    expect(store.head("r/1.txt")).toEqual(record);
    expect(blobsOf(store)).toEqual([]);
  });

  test("put: the content type defaults to application/octet-stream", async () => {
    const store = open();
    expect((await store.put("a", new Uint8Array([1]))).contentType).toBe("application/octet-stream");
    expect(store.head("a")?.contentType).toBe("application/octet-stream");
  });

  test("put: a body of exactly 64 KiB stays in the index; one byte more goes to one blob file", async () => {
    const store = open();
    const small = randomBytes(inlineLimit);
    const large = randomBytes(inlineLimit + 1);
    await store.put("small", small);
    await store.put("small-streamed", chunksOf(small.subarray(0, 1000), small.subarray(1000)));
    expect(blobsOf(store)).toEqual([]);
    await store.put("large", large);
    const blobs = blobsOf(store);
    expect(blobs).toHaveLength(1);
    expect(blobs[0]).toMatch(/^[0-9a-f]{32}$/);
    expect(statSync(join(store.dir, "blobs", blobs[0]!)).size).toBe(inlineLimit + 1);
    const result = await store.get("large");
    if (result.status !== "ok") throw new Error(result.status);
    expect(result.body).toBeInstanceOf(ReadableStream);
    expectBytes(await bytesOf(result.body), large);
    expectBytes(await read(store, "small"), small);
    expectBytes(await read(store, "small-streamed"), small);
  });

  test("put: takes bodies as bytes, a ReadableStream or an async iterable, small and large", async () => {
    const store = open();
    const small = [randomBytes(10), randomBytes(20)];
    const large = [randomBytes(40_000), randomBytes(40_000), randomBytes(3)];
    await store.put("bytes-small", Buffer.concat(small));
    await store.put("bytes-large", Buffer.concat(large));
    await store.put("stream-small", streamOf(...small));
    await store.put("stream-large", streamOf(...large));
    await store.put("iterable-small", chunksOf(...small));
    await store.put("iterable-large", chunksOf(...large));
    for (const kind of ["bytes", "stream", "iterable"]) {
      expectBytes(await read(store, `${kind}-small`), Buffer.concat(small));
      expectBytes(await read(store, `${kind}-large`), Buffer.concat(large));
      expect(store.head(`${kind}-large`)?.etag).toBe(md5(Buffer.concat(large)));
    }
    expect(blobsOf(store)).toHaveLength(3);
  });

  test("put: a byte view into a larger buffer stores only the view's bytes", async () => {
    const store = open();
    const backing = Buffer.from("0123456789");
    const view = new Uint8Array(backing.buffer, backing.byteOffset + 3, 4);
    await store.put("view", view);
    expect((await read(store, "view")).toString()).toBe("3456");
    const largeBacking = randomBytes(inlineLimit * 3);
    await store.put("large-view", largeBacking.subarray(100, 100 + inlineLimit * 2));
    expectBytes(await read(store, "large-view"), largeBacking.subarray(100, 100 + inlineLimit * 2));
  });

  test("put: an empty body is an object of size 0 with the MD5 of nothing", async () => {
    const store = open();
    await store.put("from-bytes", new Uint8Array());
    await store.put("from-stream", streamOf());
    for (const key of ["from-bytes", "from-stream"]) {
      expect(store.head(key)).toMatchObject({ size: 0, etag: "d41d8cd98f00b204e9800998ecf8427e" });
      expectBytes(await read(store, key), Buffer.alloc(0));
    }
  });

  test("put: replacing an object serves the new body and removes the old body's file", async () => {
    const store = open();
    await store.put("k", randomBytes(inlineLimit + 10));
    const [oldBlob] = blobsOf(store);
    const next = randomBytes(inlineLimit * 2);
    await store.put("k", next);
    expect(blobsOf(store)).not.toContain(oldBlob);
    expect(blobsOf(store)).toHaveLength(1);
    expectBytes(await read(store, "k"), next);
    await store.put("k", Buffer.from("small now"));
    expect(blobsOf(store)).toEqual([]);
    expect((await read(store, "k")).toString()).toBe("small now");
  });

  test("put: streams a 64 MiB body to disk as it arrives and stores it whole", { timeout: 60_000 }, async () => {
    const store = open();
    const expected = createHash("md5");
    const chunk = () => {
      const bytes = randomBytes(MiB);
      expected.update(bytes);
      return bytes;
    };
    const first = Array.from({ length: 8 }, chunk);
    const rest = Array.from({ length: 56 }, chunk);
    const source = pausingBody(first, rest);
    const put = store.put("big", source.body);
    await source.paused;
    // 8 MiB have been handed over and the store asks for more: most of it must be on disk already.
    const [blob] = blobsOf(store);
    expect(blob).toBeDefined();
    expect(statSync(join(store.dir, "blobs", blob!)).size).toBeGreaterThanOrEqual(4 * MiB);
    source.resume();
    const record = await put;
    const digest = expected.digest("hex");
    expect(record).toMatchObject({ size: 64 * MiB, etag: digest });
    const result = await store.get("big");
    if (result.status !== "ok") throw new Error(result.status);
    const actual = createHash("md5");
    let size = 0;
    for await (const part of result.body as ReadableStream<Uint8Array>) {
      actual.update(part);
      size += part.byteLength;
    }
    expect(size).toBe(64 * MiB);
    expect(actual.digest("hex")).toBe(digest);
  });

  test("get: a missing key is reported as missing", async () => {
    const store = open();
    expect(await store.get("nothing")).toEqual({ status: "missing" });
    expect(store.head("nothing")).toBeUndefined();
  });

  test("put: user metadata names are lower-cased and kept with the object", async () => {
    const store = open();
    const record = await store.put("m", new Uint8Array([1]), {
      metadata: { "Order-Id": "42", Customer: "Zoë", a: "" },
    });
    expect(record.metadata).toEqual({ a: "", customer: "Zoë", "order-id": "42" });
    expect(Object.keys(record.metadata)).toEqual(["a", "customer", "order-id"]);
    expect(store.head("m")?.metadata).toEqual(record.metadata);
  });

  test("put: metadata names that are also names of Object.prototype are stored like any other", async () => {
    const store = open();
    const metadata = JSON.parse('{"constructor":"c","__proto__":"p","toString":"t","hasOwnProperty":"h"}');
    const record = await store.put("m", new Uint8Array([1]), { metadata });
    expect(Object.entries(record.metadata)).toEqual([
      ["__proto__", "p"],
      ["constructor", "c"],
      ["hasownproperty", "h"],
      ["tostring", "t"],
    ]);
    expect(Object.entries(store.head("m")!.metadata)).toEqual(Object.entries(record.metadata));
  });

  test("put: metadata up to 2 KiB of UTF-8 is accepted; more is an argument error and stores nothing", async () => {
    const store = open();
    // "x-" (2 bytes) + 2046 bytes: "é" is 2 bytes of UTF-8, so the value is 1023 characters.
    await store.put("ok", new Uint8Array([1]), { metadata: { "x-": "é".repeat(1023) } });
    expect(store.head("ok")?.metadata["x-"]).toHaveLength(1023);
    const error = await failsWith(
      () => store.put("big", randomBytes(inlineLimit + 1), { metadata: { "x-": `${"é".repeat(1023)}a` } }),
      "NIMBUS_BUCKET_ARGUMENT",
    );
    expect(error.message).toContain('bucket "receipts", key "big"');
    expect(error.message).toContain("2049 bytes");
    expect(store.head("big")).toBeUndefined();
    expect(blobsOf(store)).toEqual([]);
  });

  test("put: metadata names given twice in different case, names that are not header tokens and values that are not strings fail", async () => {
    const store = open();
    for (const metadata of [{ Colour: "red", colour: "blue" }, { "has space": "x" }, { ünï: "x" }, { n: 1 }]) {
      await failsWith(
        () => store.put("m", new Uint8Array([1]), { metadata: metadata as unknown as Record<string, string> }),
        "NIMBUS_BUCKET_ARGUMENT",
      );
    }
    expect(store.head("m")).toBeUndefined();
  });

  test("put: a matching Content-MD5 (any case) is accepted", async () => {
    const store = open();
    const body = randomBytes(100);
    await store.put("k", body, { md5: md5(body).toUpperCase() });
    expectBytes(await read(store, "k"), body);
  });

  test("put: a wrong Content-MD5 fails with NIMBUS_BUCKET_BAD_DIGEST and keeps the old object and no file", async () => {
    const store = open();
    const old = randomBytes(inlineLimit + 5);
    await store.put("k", old);
    const blobs = blobsOf(store);
    for (const body of [randomBytes(10), randomBytes(inlineLimit * 3)]) {
      const error = await failsWith(
        () => store.put("k", body, { md5: md5(Buffer.from("other")) }),
        "NIMBUS_BUCKET_BAD_DIGEST",
      );
      expect(error.message).toContain('bucket "receipts", key "k"');
      expectBytes(await read(store, "k"), old);
      expect(blobsOf(store)).toEqual(blobs);
    }
  });

  test("put: a body stream that fails keeps the old object and leaves no file", async () => {
    const store = open();
    const old = randomBytes(inlineLimit + 5);
    await store.put("k", old);
    const blobs = blobsOf(store);
    // Fails early (still in memory) and late (after a blob file was started).
    for (const before of [[randomBytes(100)], [randomBytes(MiB), randomBytes(MiB)]]) {
      const source = pausingBody(before, [], new Error("connection reset"));
      const put = store.put("k", source.body);
      await source.paused;
      source.resume();
      const error = await failsWith(() => put, "NIMBUS_BUCKET_BODY");
      expect(error.message).toContain('bucket "receipts", key "k"');
      expect(error.message).toContain("connection reset");
      expectBytes(await read(store, "k"), old);
      expect(blobsOf(store)).toEqual(blobs);
    }
    const broken = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(randomBytes(inlineLimit * 2));
      },
      pull(controller) {
        controller.error(new Error("socket hang up"));
      },
    });
    await failsWith(() => store.put("k", broken), "NIMBUS_BUCKET_BODY");
    expectBytes(await read(store, "k"), old);
    expect(blobsOf(store)).toEqual(blobs);
  });

  test("put: a stream that yields something other than bytes fails with NIMBUS_BUCKET_BODY", async () => {
    const store = open();
    async function* numbers() {
      yield 42 as unknown as Uint8Array;
    }
    await failsWith(() => store.put("k", numbers()), "NIMBUS_BUCKET_BODY");
    expect(store.head("k")).toBeUndefined();
  });

  test("put: while a body is still arriving, readers see the old object; after the commit, the new one", async () => {
    const store = open();
    const other = open();
    const old = Buffer.from("old body");
    await store.put("k", old);
    const next = [randomBytes(MiB), randomBytes(MiB)];
    const source = pausingBody([next[0]!], [next[1]!]);
    const put = store.put("k", source.body);
    await source.paused;
    expectBytes(await read(store, "k"), old);
    expectBytes(await read(other, "k"), old);
    expect(store.head("k")?.etag).toBe(md5(old));
    source.resume();
    await put;
    expectBytes(await read(other, "k"), Buffer.concat(next));
  });
});

describe("conditions", () => {
  const uploaded = Date.UTC(2030, 0, 1, 12);

  async function stored() {
    const clock = testClock(uploaded);
    const store = open({ now: clock.now });
    const record = await store.put("k", Buffer.from("body"));
    return { store, clock, etag: record.etag };
  }

  test("get: etagMatches accepts the ETag bare, quoted, in a list or as *; another ETag fails the precondition", async () => {
    const { store, etag } = await stored();
    for (const etagMatches of [etag, `"${etag}"`, `"nope", "${etag}"`, `"nope",${etag}`, "*", ` "${etag}" `]) {
      expect((await store.get("k", { onlyIf: { etagMatches } })).status, etagMatches).toBe("ok");
    }
    const failed = await store.get("k", { onlyIf: { etagMatches: '"nope"' } });
    expect(failed).toEqual({ status: "precondition", object: store.head("k") });
  });

  test("get: etagDoesNotMatch with the ETag, a weak one, a list holding it or * is not-modified; another ETag passes", async () => {
    const { store, etag } = await stored();
    for (const etagDoesNotMatch of [etag, `"${etag}"`, `W/"${etag}"`, `"a", "${etag}"`, "*"]) {
      const result = await store.get("k", { onlyIf: { etagDoesNotMatch } });
      expect(result, etagDoesNotMatch).toEqual({ status: "not-modified", object: store.head("k") });
    }
    expect((await store.get("k", { onlyIf: { etagDoesNotMatch: '"other"' } })).status).toBe("ok");
  });

  test("get: uploadedBefore passes only for an object stored before the instant", async () => {
    const { store } = await stored();
    expect((await store.get("k", { onlyIf: { uploadedBefore: new Date(uploaded + 1) } })).status).toBe("ok");
    expect((await store.get("k", { onlyIf: { uploadedBefore: new Date(uploaded) } })).status).toBe("precondition");
    expect((await store.get("k", { onlyIf: { uploadedBefore: new Date(uploaded - 1) } })).status).toBe("precondition");
  });

  test("get: uploadedAfter passes only for an object stored after the instant", async () => {
    const { store } = await stored();
    expect((await store.get("k", { onlyIf: { uploadedAfter: new Date(uploaded - 1) } })).status).toBe("ok");
    expect((await store.get("k", { onlyIf: { uploadedAfter: new Date(uploaded) } })).status).toBe("not-modified");
    expect((await store.get("k", { onlyIf: { uploadedAfter: new Date(uploaded + 1) } })).status).toBe("not-modified");
  });

  test("get: an ETag condition decides over the date condition paired with it", async () => {
    const { store, etag } = await stored();
    const later = new Date(uploaded + 1000);
    const earlier = new Date(uploaded - 1000);
    // If-Match true overrides a failing If-Unmodified-Since; If-Match false fails despite a passing one.
    expect((await store.get("k", { onlyIf: { etagMatches: etag, uploadedBefore: earlier } })).status).toBe("ok");
    expect((await store.get("k", { onlyIf: { etagMatches: "x", uploadedBefore: later } })).status).toBe("precondition");
    // If-None-Match false (no match) overrides a failing If-Modified-Since; a match is not-modified despite a passing one.
    expect((await store.get("k", { onlyIf: { etagDoesNotMatch: "x", uploadedAfter: later } })).status).toBe("ok");
    expect((await store.get("k", { onlyIf: { etagDoesNotMatch: etag, uploadedAfter: earlier } })).status).toBe(
      "not-modified",
    );
    // The precondition (412) is checked before not-modified (304).
    expect((await store.get("k", { onlyIf: { etagMatches: "x", etagDoesNotMatch: etag } })).status).toBe(
      "precondition",
    );
  });

  test("put: etagDoesNotMatch * creates only; a second create fails with NIMBUS_BUCKET_PRECONDITION and writes nothing", async () => {
    const store = open();
    const first = await store.put("k", Buffer.from("first"), { onlyIf: { etagDoesNotMatch: "*" } });
    const error = await failsWith(
      () => store.put("k", randomBytes(inlineLimit * 2), { onlyIf: { etagDoesNotMatch: "*" } }),
      "NIMBUS_BUCKET_PRECONDITION",
    );
    expect(error.message).toContain('bucket "receipts", key "k"');
    expect(store.head("k")).toEqual(first);
    expect((await read(store, "k")).toString()).toBe("first");
    expect(blobsOf(store)).toEqual([]);
  });

  test("put: etagMatches swaps only when the stored ETag is the one given", async () => {
    const store = open();
    const first = await store.put("k", Buffer.from("v1"));
    const second = await store.put("k", Buffer.from("v2"), { onlyIf: { etagMatches: `"${first.etag}"` } });
    await failsWith(
      () => store.put("k", Buffer.from("v3"), { onlyIf: { etagMatches: first.etag } }),
      "NIMBUS_BUCKET_PRECONDITION",
    );
    expect(store.head("k")).toEqual(second);
    await failsWith(
      () => store.put("missing", Buffer.from("v1"), { onlyIf: { etagMatches: "*" } }),
      "NIMBUS_BUCKET_PRECONDITION",
    );
    expect(store.head("missing")).toBeUndefined();
  });

  test("put: a condition is checked against the object as it is at the commit, not when the body began", async () => {
    const clock = testClock();
    const store = open({ now: clock.now });
    const other = open();
    const first = await store.put("k", Buffer.from("v1"));
    // Another thread deletes the object after this put has read its body.
    clock.beforeNextRead(() => other.delete(["k"]));
    await failsWith(
      () => store.put("k", randomBytes(inlineLimit * 2), { onlyIf: { etagMatches: first.etag } }),
      "NIMBUS_BUCKET_PRECONDITION",
    );
    expect(store.head("k")).toBeUndefined();
    expect(blobsOf(store)).toEqual([]);
  });
});

describe("ranges", () => {
  async function withBodies() {
    const store = open();
    const small = randomBytes(1000);
    const large = randomBytes(700_000);
    await store.put("small", small);
    await store.put("large", large);
    return { store, bodies: { small, large } };
  }

  test("get: serves offset and length, offset to the end, and a suffix, from the index and from a file", async () => {
    const { store, bodies } = await withBodies();
    for (const [key, body] of Object.entries(bodies)) {
      const size = body.byteLength;
      const cases = [
        { range: { offset: 0, length: 1 }, offset: 0, length: 1 },
        { range: { offset: 17, length: 300 }, offset: 17, length: 300 },
        { range: { offset: size - 5 }, offset: size - 5, length: 5 },
        { range: { offset: 3, length: size * 2 }, offset: 3, length: size - 3 },
        { range: { offset: 10, length: 0 }, offset: 10, length: 0 },
        { range: { suffix: 123 }, offset: size - 123, length: 123 },
        { range: { suffix: size + 50 }, offset: 0, length: size },
      ];
      for (const { range, offset, length } of cases) {
        const result = await store.get(key, { range });
        if (result.status !== "ok") throw new Error(result.status);
        expect(result.range, `${key} ${JSON.stringify(range)}`).toEqual({ offset, length });
        expect(result.object.size).toBe(size);
        expectBytes(await bytesOf(result.body), body.subarray(offset, offset + length));
      }
    }
  });

  test("get: a range across 256 KiB read chunks of a file is served exactly", async () => {
    const { store, bodies } = await withBodies();
    const range = { offset: 256 * 1024 - 7, length: 256 * 1024 + 20 };
    expectBytes(
      await read(store, "large", { range }),
      bodies.large.subarray(range.offset, range.offset + range.length),
    );
  });

  test("get: an invalid range fails with NIMBUS_BUCKET_RANGE", async () => {
    const { store, bodies } = await withBodies();
    for (const key of Object.keys(bodies)) {
      const size = bodies[key as keyof typeof bodies].byteLength;
      for (const range of [
        { offset: -1 },
        { offset: 1.5 },
        { offset: size },
        { offset: size + 10, length: 1 },
        { offset: 0, length: -1 },
        { offset: 0, length: 0.5 },
        { suffix: 0 },
        { suffix: -3 },
        { suffix: 2.5 },
      ]) {
        const error = await failsWith(() => store.get(key, { range }), "NIMBUS_BUCKET_RANGE");
        expect(error.message).toContain(`bucket "receipts", key "${key}"`);
      }
    }
  });

  test("get: a range of an empty object from offset 0 is empty, not an error", async () => {
    const store = open();
    await store.put("empty", new Uint8Array());
    const result = await store.get("empty", { range: { offset: 0 } });
    expect(result).toMatchObject({ status: "ok", range: { offset: 0, length: 0 } });
  });

  test("get: a failed condition is reported before the range is looked at; a missing key before both", async () => {
    const { store } = await withBodies();
    expect((await store.get("small", { range: { offset: 5000 }, onlyIf: { etagMatches: "x" } })).status).toBe(
      "precondition",
    );
    expect((await store.get("missing", { range: { offset: 5000 } })).status).toBe("missing");
  });
});

describe("keys", () => {
  // Keys that would be dangerous or ambiguous as file paths, or that test the byte limits.
  const awkwardKeys = [
    "../escape",
    "../../../../../../etc/passwd",
    "a/../../b",
    "a//b",
    "//",
    "/",
    "/leading",
    "trailing/",
    ".",
    "..",
    "./.",
    "a/./b",
    "a/..",
    "%2e%2e%2f",
    "100%",
    "%",
    "caf\u00e9",
    "cafe\u0301",
    "a".repeat(1000),
    `dir/${"a".repeat(1000)}/x`,
    "x".repeat(1024),
    "é".repeat(512),
    "😀".repeat(256),
    `${"a".repeat(1021)}€`,
    "\uFFFD",
    "😀",
    "\u0000",
    "a\u0000b",
    "line\nbreak",
    "back\\slash",
    "..\\..\\windows",
    "C:\\boot.ini",
    "con",
    "nul.txt",
    " ",
    "index.sqlite",
    "index.sqlite-wal",
    "blobs",
    "blobs/",
    `blobs/${"0".repeat(32)}`,
    "receipts",
  ];

  test("put: every awkward key is a distinct object inside the bucket's folder, listed exactly as written in UTF-8 byte order", async () => {
    const store = open();
    mkdtempSync(join(root, "sibling-"));
    const rootBefore = readdirSync(root).sort();
    const body = (index: number) =>
      // Every other key gets a file-backed body, so both kinds of storage are exercised.
      index % 2 === 0
        ? Buffer.from(`body ${index}`)
        : Buffer.concat([Buffer.from(`body ${index}`), Buffer.alloc(inlineLimit)]);
    for (const [index, key] of awkwardKeys.entries()) await store.put(key, body(index));

    for (const [index, key] of awkwardKeys.entries()) {
      expect(store.head(key)?.key, JSON.stringify(key)).toBe(key);
      expectBytes(await read(store, key), body(index), JSON.stringify(key));
    }
    const byBytes = [...awkwardKeys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    const listed = store.list();
    expect(listed.truncated).toBe(false);
    expect(listed.objects.map((o) => o.key)).toEqual(byBytes);

    // Only the index and randomly named blobs, and nothing beside the bucket's folder.
    const files = filesUnder(store.dir);
    for (const file of files) expect(file).toMatch(/^(index\.sqlite(-wal|-shm)?|blobs\/[0-9a-f]{32})$/);
    expect(files.filter((f) => f.startsWith("blobs/"))).toHaveLength(Math.floor(awkwardKeys.length / 2));
    expect(readdirSync(root).sort()).toEqual(rootBefore);
    expect(filesUnder(root).filter((f) => !f.startsWith("receipts/"))).toEqual([]);
    expect(existsSync(join(store.dir, "..", "escape"))).toBe(false);
  });

  test("put: the NFC and NFD forms of a name are two keys", async () => {
    const store = open();
    const nfc = "café".normalize("NFC");
    const nfd = "café".normalize("NFD");
    expect(nfc).not.toBe(nfd);
    await store.put(nfc, Buffer.from("composed"));
    await store.put(nfd, Buffer.from("decomposed"));
    expect((await read(store, nfc)).toString()).toBe("composed");
    expect((await read(store, nfd)).toString()).toBe("decomposed");
    expect(store.list().objects.map((o) => o.key)).toEqual([nfd, nfc]);
    store.delete([nfc]);
    expect((await read(store, nfd)).toString()).toBe("decomposed");
  });

  test("list: orders keys by their UTF-8 bytes, not by JavaScript's UTF-16 order", async () => {
    const store = open();
    const keys = ["😀", "\uFFFD", "\uE000", "z", "\u007F", "\u0080", "A", "𝄞x"];
    for (const key of keys) await store.put(key, new Uint8Array([1]));
    const byBytes = [...keys].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    // The two orders differ for these keys, so the check below can tell them apart.
    expect([...keys].sort()).not.toEqual(byBytes);
    expect(byBytes.indexOf("\uFFFD")).toBeLessThan(byBytes.indexOf("😀"));
    expect(store.list().objects.map((o) => o.key)).toEqual(byBytes);
    const paged: string[] = [];
    let cursor: string | undefined;
    do {
      const page = store.list({ limit: 3, cursor });
      paged.push(...page.objects.map((o) => o.key));
      cursor = page.cursor;
    } while (cursor);
    expect(paged).toEqual(byBytes);
  });

  test("put: a key of exactly 1,024 bytes of UTF-8 is valid; one byte more is not, however few characters it has", async () => {
    const store = open();
    for (const key of ["x".repeat(1024), "é".repeat(512), "😀".repeat(256), `${"a".repeat(1021)}€`]) {
      expect(Buffer.byteLength(key)).toBe(1024);
      await store.put(key, Buffer.from(key.slice(0, 3)));
      expect(store.head(key)?.key).toBe(key);
    }
    for (const key of ["x".repeat(1025), `${"é".repeat(512)}a`, `${"😀".repeat(256)}a`]) {
      const error = await failsWith(() => store.put(key, new Uint8Array([1])), "NIMBUS_BUCKET_KEY");
      expect(error.message).toContain('bucket "receipts", key "');
      expect(error.message).toContain(JSON.stringify(key.slice(0, 20)).slice(0, -1));
      expect(error.message).toContain("1,025 bytes");
    }
    expect(store.list().objects).toHaveLength(4);
  });

  test("put: an empty key or one with a lone surrogate fails with NIMBUS_BUCKET_KEY naming the bucket and the key", async () => {
    const store = open();
    for (const key of ["", "\uD800", "a\uDC00b", "\uDE00\uD83D", `ok/${"\uD83D"}`]) {
      const error = await failsWith(() => store.put(key, randomBytes(inlineLimit * 2)), "NIMBUS_BUCKET_KEY");
      expect(error.message).toContain(`bucket "receipts", key ${JSON.stringify(key)}`);
    }
    expect(store.list().objects).toEqual([]);
    expect(blobsOf(store)).toEqual([]);
  });

  test("get: every operation that takes a key rejects an invalid one with NIMBUS_BUCKET_KEY", async () => {
    const store = open();
    await store.put("good", new Uint8Array([1]));
    for (const bad of ["", "\uD800", "k".repeat(1025)]) {
      await failsWith(() => store.get(bad), "NIMBUS_BUCKET_KEY");
      await failsWith(() => store.head(bad), "NIMBUS_BUCKET_KEY");
      await failsWith(() => store.delete(["good", bad]), "NIMBUS_BUCKET_KEY");
      await failsWith(() => store.copy(store, bad, "copy"), "NIMBUS_BUCKET_KEY");
      await failsWith(() => store.copy(store, "good", bad), "NIMBUS_BUCKET_KEY");
      await failsWith(() => store.createUpload(bad), "NIMBUS_BUCKET_KEY");
    }
    // The delete with one bad key deleted nothing.
    expect(store.head("good")).toBeDefined();
    expect(store.head("copy")).toBeUndefined();
    expect(store.uploads()).toEqual([]);
  });
});

describe("durability", () => {
  test("open: objects, metadata and pending uploads survive reopening the folder", async () => {
    const first = open({ now: () => 1_900_000_000_000 });
    const small = await first.put("small", Buffer.from("hi"), { contentType: "text/plain", metadata: { a: "1" } });
    const largeBody = randomBytes(inlineLimit * 3);
    const large = await first.put("large", largeBody);
    const upload = first.createUpload("multi");
    const part = await first.putPart(upload.id, 1, Buffer.from("part one"));
    first.close();

    const again = open();
    expect(again.head("small")).toEqual(small);
    expect(again.head("large")).toEqual(large);
    expect((await read(again, "small")).toString()).toBe("hi");
    expectBytes(await read(again, "large"), largeBody);
    expect(again.uploads()).toEqual([upload]);
    expect(again.parts(upload.id)).toEqual([part]);
    const multi = again.completeUpload(upload.id, [{ number: 1, etag: part.etag }]);
    again.close();

    const third = open();
    expect(third.head("multi")).toEqual(multi);
    expect((await read(third, "multi")).toString()).toBe("part one");
    expect(third.list().objects.map((o) => o.key)).toEqual(["large", "multi", "small"]);
  });

  test("open: two stores on one folder see each other's writes", async () => {
    const a = open();
    const b = open();
    const body = randomBytes(inlineLimit * 2);
    await a.put("k", body);
    expectBytes(await read(b, "k"), body);
    await b.put("k2", Buffer.from("from b"));
    expect((await read(a, "k2")).toString()).toBe("from b");
    b.delete(["k"]);
    expect(a.head("k")).toBeUndefined();
    expect(await a.get("k")).toEqual({ status: "missing" });
    const upload = b.createUpload("m");
    expect(a.uploads().map((u) => u.id)).toEqual([upload.id]);
    await a.putPart(upload.id, 1, Buffer.from("x"));
    expect(b.parts(upload.id).map((p) => p.number)).toEqual([1]);
    expect(a.list().objects.map((o) => o.key)).toEqual(["k2"]);
  });

  test("get: a body stream taken before the object is replaced reads the old body to the end", async () => {
    const store = open();
    const other = open();
    const old = randomBytes(MiB + 123);
    await store.put("k", old);
    const [oldBlob] = blobsOf(store);
    const untouched = await store.get("k");
    const started = await store.get("k");
    if (untouched.status !== "ok" || started.status !== "ok") throw new Error("not readable");
    const reader = (started.body as ReadableStream<Uint8Array>).getReader();
    const firstChunk = await reader.read();
    expect(firstChunk.done).toBe(false);

    await other.put("k", Buffer.from("new"));
    // The old file is unlinked already; the open descriptors still read it.
    expect(blobsOf(store)).not.toContain(oldBlob);
    const rest: Uint8Array[] = [firstChunk.value!];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest.push(value);
    }
    expectBytes(Buffer.concat(rest), old);
    expectBytes(await bytesOf(untouched.body), old);
    expect((await read(store, "k")).toString()).toBe("new");
  });

  test("get: a body stream taken before the object is deleted reads the old body to the end", async () => {
    const store = open();
    const old = randomBytes(inlineLimit * 5);
    await store.put("k", old);
    const result = await store.get("k", { range: { offset: 10 } });
    if (result.status !== "ok") throw new Error(result.status);
    store.delete(["k"]);
    expect(blobsOf(store)).toEqual([]);
    expectBytes(await bytesOf(result.body), old.subarray(10));
  });
});

describe("delete", () => {
  test("delete: removes the keys that exist, ignores missing ones, and returns the deleted records", async () => {
    const store = open();
    const a = await store.put("a", Buffer.from("a"));
    const b = await store.put("b", randomBytes(inlineLimit * 2));
    const c = await store.put("c", randomBytes(inlineLimit * 2));
    await store.put("keep", randomBytes(inlineLimit * 2));
    expect(blobsOf(store)).toHaveLength(3);

    const deleted = store.delete(["c", "missing", "a", "b", "a"]);
    expect(deleted).toEqual([c, a, b]);
    for (const key of ["a", "b", "c"]) expect(await store.get(key)).toEqual({ status: "missing" });
    expect(store.list().objects.map((o) => o.key)).toEqual(["keep"]);
    expect(blobsOf(store)).toHaveLength(1);
    expect(store.delete(["a", "missing"])).toEqual([]);
    expect(store.delete([])).toEqual([]);
  });

  test("delete: removes the body files from disk", async () => {
    const store = open();
    await store.put("big", randomBytes(inlineLimit * 2));
    expect(blobsOf(store)).toHaveLength(1);
    store.delete(["big"]);
    expect(blobsOf(store)).toEqual([]);
  });
});

describe("list", () => {
  async function withKeys(keys: readonly string[]) {
    const store = open();
    for (const key of keys) await store.put(key, Buffer.from(key));
    return store;
  }

  /** The objects and prefixes of a page in listing order, as "key" and "prefix/" entries marked by kind. */
  function entries(page: { objects: ObjectRecord[]; prefixes: string[] }): string[] {
    const all = [
      ...page.objects.map((o) => ({ text: `object ${o.key}`, bytes: Buffer.from(o.key) })),
      ...page.prefixes.map((p) => ({ text: `prefix ${p}`, bytes: Buffer.from(p) })),
    ];
    return all.sort((x, y) => Buffer.compare(x.bytes, y.bytes)).map((e) => e.text);
  }

  /** Every entry, page after page, with the page sizes checked. */
  function listAll(
    store: BucketStore,
    options: { prefix?: string; delimiter?: string; startAfter?: string },
    limit: number,
  ) {
    const all: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; ; pages++) {
      if (pages > 10_000) throw new Error("the listing does not end");
      const page = store.list({ ...options, limit, cursor });
      const found = entries(page);
      all.push(...found);
      if (!page.truncated) {
        expect(page.cursor).toBeUndefined();
        expect(found.length).toBeLessThanOrEqual(limit);
        return all;
      }
      expect(found).toHaveLength(limit);
      expect(page.cursor).toEqual(expect.any(String));
      cursor = page.cursor;
    }
  }

  /** What S3 lists: keys after startAfter under prefix, rolled up at the first delimiter after the prefix. */
  function s3Listing(keys: readonly string[], options: { prefix?: string; delimiter?: string; startAfter?: string }) {
    const prefix = Buffer.from(options.prefix ?? "");
    const delimiter = Buffer.from(options.delimiter ?? "");
    const after = options.startAfter === undefined ? undefined : Buffer.from(options.startAfter);
    const out: string[] = [];
    let lastPrefix: Buffer | undefined;
    for (const key of keys.map((k) => Buffer.from(k)).sort(Buffer.compare)) {
      if (!key.subarray(0, prefix.byteLength).equals(prefix)) continue;
      if (after && Buffer.compare(key, after) <= 0) continue;
      const at = delimiter.byteLength > 0 ? key.indexOf(delimiter, prefix.byteLength) : -1;
      if (at < 0) {
        out.push(`object ${key.toString()}`);
        continue;
      }
      const common = key.subarray(0, at + delimiter.byteLength);
      // A common prefix at or before the start point was listed already (S3 and its
      // compatible servers continue a NextMarker that is a common prefix this way).
      if (after && Buffer.compare(common, after) <= 0) continue;
      if (lastPrefix?.equals(common)) continue;
      lastPrefix = common;
      out.push(`prefix ${common.toString()}`);
    }
    return out;
  }

  // A deterministic spread of keys over a small alphabet, so prefixes and delimiters collide often.
  function generatedKeys(): string[] {
    const alphabet = ["a", "b", "/", "-", "é", "😀", "\uFFFD", "z"];
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const keys = new Set<string>(["a", "a/", "a//b", "a/b", "a/b/c", "a-/x", "b", "b/", "é/é"]);
    while (keys.size < 150) {
      let key = "";
      const length = 1 + Math.floor(random() * 6);
      for (let i = 0; i < length; i++) key += alphabet[Math.floor(random() * alphabet.length)];
      keys.add(key);
    }
    return [...keys];
  }

  test("list: pages visit every key exactly once, in order, for any page size, prefix, delimiter and start point", async () => {
    const keys = generatedKeys();
    const store = await withKeys(keys);
    const cases = [
      {},
      { delimiter: "/" },
      { prefix: "a" },
      { prefix: "a/", delimiter: "/" },
      { prefix: "a", delimiter: "/" },
      { delimiter: "-/" },
      { delimiter: "é" },
      { delimiter: "😀" },
      { prefix: "😀" },
      { startAfter: "b" },
      { startAfter: "a/" },
      { delimiter: "/", startAfter: "a/" },
      { delimiter: "/", startAfter: "a/b" },
      { prefix: "b", delimiter: "/", startAfter: "b/a" },
      { prefix: "z", startAfter: "a" },
      { prefix: "a", startAfter: "zzz" },
    ];
    for (const options of cases) {
      const expected = s3Listing(keys, options);
      for (const limit of [1, 2, 3, 7, 1000]) {
        expect(listAll(store, options, limit), `${JSON.stringify(options)} limit ${limit}`).toEqual(expected);
      }
    }
  });

  test("list: returns whole records in key order", async () => {
    const clock = testClock();
    const store = open({ now: clock.now });
    const b = await store.put("b", Buffer.from("bb"), { contentType: "text/plain", metadata: { x: "1" } });
    const a = await store.put("a", randomBytes(inlineLimit * 2));
    expect(store.list()).toEqual({ objects: [a, b], prefixes: [], truncated: false, cursor: undefined });
  });

  test("list: a prefix lists only the keys that begin with its bytes", async () => {
    const store = await withKeys(["photos/1", "photos/2", "photos", "photosx", "photo", "p", "q"]);
    expect(store.list({ prefix: "photos" }).objects.map((o) => o.key)).toEqual([
      "photos",
      "photos/1",
      "photos/2",
      "photosx",
    ]);
    expect(store.list({ prefix: "photos/" }).objects.map((o) => o.key)).toEqual(["photos/1", "photos/2"]);
    expect(store.list({ prefix: "nothing" })).toEqual({ objects: [], prefixes: [], truncated: false });
  });

  test("list: a delimiter rolls keys up into common prefixes after the prefix", async () => {
    const store = await withKeys(["a/1", "a/2", "a/b/3", "b", "c/", "c/d", "d//e", "/root"]);
    const top = store.list({ delimiter: "/" });
    expect(top.objects.map((o) => o.key)).toEqual(["b"]);
    expect(top.prefixes).toEqual(["/", "a/", "c/", "d/"]);
    const inA = store.list({ prefix: "a/", delimiter: "/" });
    expect(inA.objects.map((o) => o.key)).toEqual(["a/1", "a/2"]);
    expect(inA.prefixes).toEqual(["a/b/"]);
    const inC = store.list({ prefix: "c/", delimiter: "/" });
    expect(inC.objects.map((o) => o.key)).toEqual(["c/", "c/d"]);
    expect(inC.prefixes).toEqual([]);
  });

  test("list: a delimiter of several characters rolls up at the whole delimiter only", async () => {
    const store = await withKeys(["2024--01--a", "2024--01--b", "2024--02", "2024-x", "2025"]);
    const result = store.list({ delimiter: "--" });
    expect(result.prefixes).toEqual(["2024--"]);
    expect(result.objects.map((o) => o.key)).toEqual(["2024-x", "2025"]);
    const inner = store.list({ prefix: "2024--", delimiter: "--" });
    expect(inner.prefixes).toEqual(["2024--01--"]);
    expect(inner.objects.map((o) => o.key)).toEqual(["2024--02"]);
  });

  test("list: limit counts objects and prefixes together and marks the page truncated", async () => {
    const store = await withKeys(["a", "b/1", "b/2", "c", "d/1", "e"]);
    const first = store.list({ delimiter: "/", limit: 3 });
    expect(first.objects.map((o) => o.key)).toEqual(["a", "c"]);
    expect(first.prefixes).toEqual(["b/"]);
    expect(first.truncated).toBe(true);
    const second = store.list({ delimiter: "/", limit: 3, cursor: first.cursor });
    expect(second.objects.map((o) => o.key)).toEqual(["e"]);
    expect(second.prefixes).toEqual(["d/"]);
    expect(second.truncated).toBe(false);
    expect(second.cursor).toBeUndefined();
  });

  test("list: a page that ends on a common prefix resumes after every key under it", async () => {
    const store = await withKeys(["a/1", "a/2", "a/3", "a0", "b"]);
    const first = store.list({ delimiter: "/", limit: 1 });
    expect(first).toMatchObject({ objects: [], prefixes: ["a/"], truncated: true });
    const second = store.list({ delimiter: "/", limit: 1, cursor: first.cursor });
    expect(second.objects.map((o) => o.key)).toEqual(["a0"]);
    expect(second.prefixes).toEqual([]);
  });

  test("list: a page that is exactly full at the end is not truncated", async () => {
    const store = await withKeys(["a", "b", "c"]);
    expect(store.list({ limit: 3 })).toMatchObject({ truncated: false, cursor: undefined });
    expect(store.list({ limit: 2 })).toMatchObject({ truncated: true });
  });

  test("list: startAfter lists only what comes after it, even when it is not a stored key", async () => {
    const store = await withKeys(["a", "b", "b0", "c"]);
    expect(store.list({ startAfter: "b" }).objects.map((o) => o.key)).toEqual(["b0", "c"]);
    expect(store.list({ startAfter: "ba" }).objects.map((o) => o.key)).toEqual(["c"]);
    expect(store.list({ startAfter: "" }).objects.map((o) => o.key)).toEqual(["a", "b", "b0", "c"]);
    expect(store.list({ startAfter: "c" }).objects).toEqual([]);
    expect(store.list({ startAfter: "0", prefix: "b" }).objects.map((o) => o.key)).toEqual(["b", "b0"]);
  });

  test("list: a startAfter that is a common prefix, or a key under one, does not list that prefix again", async () => {
    const store = await withKeys(["a/1", "a/2", "b/1", "c"]);
    // S3's NextMarker of a page that ended on the common prefix "a/" is "a/".
    expect(store.list({ delimiter: "/", startAfter: "a/" })).toMatchObject({ prefixes: ["b/"] });
    expect(store.list({ delimiter: "/", startAfter: "a/1" })).toMatchObject({ prefixes: ["b/"] });
    expect(store.list({ delimiter: "/", startAfter: "a" })).toMatchObject({ prefixes: ["a/", "b/"] });
    // Without a delimiter the keys themselves are listed.
    expect(store.list({ startAfter: "a/1" }).objects.map((o) => o.key)).toEqual(["a/2", "b/1", "c"]);
  });

  test("list: an invalid limit, cursor, or a prefix with a lone surrogate fails with NIMBUS_BUCKET_ARGUMENT", async () => {
    const store = await withKeys(["a"]);
    for (const limit of [0, -1, 1001, 1.5, Number.NaN]) {
      await failsWith(() => store.list({ limit }), "NIMBUS_BUCKET_ARGUMENT");
    }
    for (const cursor of ["", "not a cursor!", "a/b"]) {
      await failsWith(() => store.list({ cursor }), "NIMBUS_BUCKET_ARGUMENT");
    }
    await failsWith(() => store.list({ prefix: "\uD800" }), "NIMBUS_BUCKET_ARGUMENT");
    await failsWith(() => store.list({ delimiter: "\uDC00" }), "NIMBUS_BUCKET_ARGUMENT");
    await failsWith(() => store.list({ startAfter: "a\uD800" }), "NIMBUS_BUCKET_ARGUMENT");
    expect(store.list({ limit: 1000 }).objects).toHaveLength(1);
  });
});

describe("copy", () => {
  test("copy: copies a small object within the bucket with its metadata", async () => {
    const clock = testClock();
    const store = open({ now: clock.now });
    const source = await store.put("src", Buffer.from("hello"), { contentType: "text/plain", metadata: { a: "1" } });
    clock.set(Date.UTC(2031, 0, 1));
    const copy = await store.copy(store, "src", "dst");
    expect(copy).toEqual({ ...source, key: "dst", uploaded: Date.UTC(2031, 0, 1) });
    expect(store.head("dst")).toEqual(copy);
    expect((await read(store, "dst")).toString()).toBe("hello");
    store.delete(["src"]);
    expect((await read(store, "dst")).toString()).toBe("hello");
  });

  test("copy: a large object's file is hard-linked, and deleting the source keeps the copy whole", async () => {
    const store = open();
    const body = randomBytes(inlineLimit * 4);
    await store.put("src", body);
    const [sourceBlob] = blobsOf(store);
    await store.copy(store, "src", "dst");
    const blobs = blobsOf(store);
    expect(blobs).toHaveLength(2);
    const copyBlob = blobs.find((blob) => blob !== sourceBlob)!;
    expect(statSync(join(store.dir, "blobs", copyBlob)).ino).toBe(statSync(join(store.dir, "blobs", sourceBlob!)).ino);
    store.delete(["src"]);
    expect(blobsOf(store)).toEqual([copyBlob]);
    expectBytes(await read(store, "dst"), body);
  });

  test("copy: copies between two buckets, and each keeps its object when the other is deleted", async () => {
    const receipts = open();
    const archive = open({ name: "archive" });
    const body = randomBytes(inlineLimit * 2);
    const source = await receipts.put("r/1", body, { metadata: { customer: "42" } });
    const copy = await archive.copy(receipts, "r/1", "2030/r/1");
    expect(copy).toMatchObject({ key: "2030/r/1", etag: source.etag, size: source.size, metadata: { customer: "42" } });
    receipts.delete(["r/1"]);
    expect(blobsOf(receipts)).toEqual([]);
    expectBytes(await read(archive, "2030/r/1"), body);
    await archive.copy(archive, "2030/r/1", "again");
    await receipts.copy(archive, "again", "back");
    archive.clear();
    expectBytes(await read(receipts, "back"), body);
  });

  test("copy: replace sets a new content type and metadata instead of the source's", async () => {
    const store = open();
    await store.put("src", Buffer.from("x"), { contentType: "text/plain", metadata: { old: "1" } });
    const replaced = await store.copy(store, "src", "dst", {
      replace: { contentType: "application/json", metadata: { New: "2" } },
    });
    expect(replaced).toMatchObject({ contentType: "application/json", metadata: { new: "2" } });
    const defaults = await store.copy(store, "src", "dst2", { replace: {} });
    expect(defaults).toMatchObject({ contentType: "application/octet-stream", metadata: {} });
    expect(store.head("src")).toMatchObject({ contentType: "text/plain", metadata: { old: "1" } });
  });

  test("copy: conditions on the source and on the destination are both honoured", async () => {
    const store = open();
    const source = await store.put("src", randomBytes(inlineLimit * 2));
    const existing = await store.put("dst", Buffer.from("existing"));
    const blobs = blobsOf(store);
    // A failed source condition has its own code: S3 names the header that failed.
    await failsWith(
      () => store.copy(store, "src", "dst", { sourceIf: { etagMatches: "other" } }),
      "NIMBUS_BUCKET_SOURCE_PRECONDITION",
    );
    await failsWith(
      () => store.copy(store, "src", "dst", { sourceIf: { etagDoesNotMatch: source.etag } }),
      "NIMBUS_BUCKET_SOURCE_PRECONDITION",
    );
    await failsWith(
      () => store.copy(store, "src", "dst", { onlyIf: { etagDoesNotMatch: "*" } }),
      "NIMBUS_BUCKET_PRECONDITION",
    );
    expect(store.head("dst")).toEqual(existing);
    expect(blobsOf(store)).toEqual(blobs);
    const copy = await store.copy(store, "src", "dst", {
      sourceIf: { etagMatches: source.etag },
      onlyIf: { etagMatches: existing.etag },
    });
    expect(copy.etag).toBe(source.etag);
  });

  test("copy: a missing source fails with NIMBUS_BUCKET_NO_SUCH_KEY naming the source", async () => {
    const receipts = open();
    const archive = open({ name: "archive" });
    const error = await failsWith(() => archive.copy(receipts, "nope", "dst"), "NIMBUS_BUCKET_NO_SUCH_KEY");
    expect(error.message).toContain('bucket "receipts", key "nope"');
    expect(archive.head("dst")).toBeUndefined();
  });
});

describe("multipart", () => {
  const fivePartsWorth = () => [randomBytes(minPartSize), randomBytes(minPartSize), randomBytes(1234)];

  function multipartEtag(bodies: Uint8Array[]): string {
    const digests = bodies.map((body) => createHash("md5").update(body).digest());
    return `${md5(Buffer.concat(digests))}-${bodies.length}`;
  }

  async function uploaded(store: BucketStore, key: string, bodies: Uint8Array[]) {
    const upload = store.createUpload(key, { contentType: "video/mp4", metadata: { Title: "T" } });
    const parts = [];
    for (const [index, body] of bodies.entries()) parts.push(await store.putPart(upload.id, index + 1, body));
    return { upload, parts };
  }

  test("createUpload: records the key, content type, lower-cased metadata and creation time", () => {
    const clock = testClock();
    const store = open({ now: clock.now });
    const upload = store.createUpload("v.mp4", {
      contentType: "video/mp4",
      metadata: { Title: "T" },
      headers: { "content-disposition": "inline" },
    });
    expect(upload).toEqual({
      id: expect.any(String),
      key: "v.mp4",
      contentType: "video/mp4",
      metadata: { title: "T" },
      headers: { "content-disposition": "inline" },
      created: clock.now(),
    });
    expect(store.upload(upload.id)).toEqual(upload);
    const plain = store.createUpload("a.bin");
    expect(plain.contentType).toBe("application/octet-stream");
    expect(store.uploads()).toEqual([plain, upload]);
    expect(store.upload("unknown")).toBeUndefined();
    expect(store.head("v.mp4")).toBeUndefined();
  });

  test("putPart: stores a part as a file and replacing it removes the old file", async () => {
    const clock = testClock();
    const store = open({ now: clock.now });
    const upload = store.createUpload("k");
    const first = await store.putPart(upload.id, 1, Buffer.from("first"));
    expect(first).toEqual({ number: 1, size: 5, etag: md5(Buffer.from("first")), uploaded: clock.now() });
    const [firstBlob] = blobsOf(store);
    expect(firstBlob).toMatch(/^[0-9a-f]{32}$/);
    const replaced = await store.putPart(upload.id, 1, streamOf(Buffer.from("second!")));
    await store.putPart(upload.id, 3, chunksOf(Buffer.from("three")));
    expect(store.parts(upload.id)).toEqual([
      replaced,
      { number: 3, size: 5, etag: md5(Buffer.from("three")), uploaded: clock.now() },
    ]);
    expect(blobsOf(store)).toHaveLength(2);
    expect(blobsOf(store)).not.toContain(firstBlob);
  });

  test("putPart: a part number outside 1 to 10,000 fails with NIMBUS_BUCKET_PART", async () => {
    const store = open();
    const upload = store.createUpload("k");
    for (const number of [0, -1, 10_001, 1.5]) {
      await failsWith(() => store.putPart(upload.id, number, Buffer.from("x")), "NIMBUS_BUCKET_PART");
    }
    await store.putPart(upload.id, 10_000, Buffer.from("x"));
    expect(store.parts(upload.id).map((p) => p.number)).toEqual([10_000]);
    expect(blobsOf(store)).toHaveLength(1);
  });

  test("putPart: a wrong Content-MD5 fails with NIMBUS_BUCKET_BAD_DIGEST and keeps the stored part", async () => {
    const store = open();
    const upload = store.createUpload("k");
    const kept = await store.putPart(upload.id, 1, Buffer.from("kept"));
    for (const body of [Buffer.from("small"), randomBytes(inlineLimit * 2)]) {
      await failsWith(
        () => store.putPart(upload.id, 1, body, { md5: md5(Buffer.from("x")) }),
        "NIMBUS_BUCKET_BAD_DIGEST",
      );
    }
    expect(store.parts(upload.id)).toEqual([kept]);
    expect(blobsOf(store)).toHaveLength(1);
  });

  test("putPart: a body stream that fails fails with NIMBUS_BUCKET_BODY, keeps the stored part and leaves no file", async () => {
    const store = open();
    const upload = store.createUpload("k");
    const kept = await store.putPart(upload.id, 1, Buffer.from("kept"));
    for (const before of [[randomBytes(10)], [randomBytes(MiB), randomBytes(MiB)]]) {
      const source = pausingBody(before, [], new Error("connection reset"));
      const put = store.putPart(upload.id, 1, source.body);
      await source.paused;
      source.resume();
      const error = await failsWith(() => put, "NIMBUS_BUCKET_BODY");
      expect(error.message).toContain('bucket "receipts", key "k"');
      expect(error.message).toContain("connection reset");
    }
    expect(store.parts(upload.id)).toEqual([kept]);
    expect(blobsOf(store)).toHaveLength(1);
  });

  test("putPart: a part whose upload is aborted while its body arrives fails and leaves no file", async () => {
    const store = open();
    const upload = store.createUpload("k");
    const source = pausingBody([randomBytes(inlineLimit * 2)], [randomBytes(10)]);
    const put = store.putPart(upload.id, 1, source.body);
    await source.paused;
    store.abortUpload(upload.id);
    source.resume();
    await failsWith(() => put, "NIMBUS_BUCKET_NO_SUCH_UPLOAD");
    expect(blobsOf(store)).toEqual([]);
  });

  test("completeUpload: joins 5 MiB parts into one object with S3's multipart ETag", { timeout: 30_000 }, async () => {
    const clock = testClock();
    const store = open({ now: clock.now });
    const bodies = fivePartsWorth();
    const { upload, parts } = await uploaded(store, "movie.mp4", bodies);
    const blobs = blobsOf(store);
    clock.set(Date.UTC(2031, 5, 1));
    const record = store.completeUpload(
      upload.id,
      parts.map((p) => ({ number: p.number, etag: `"${p.etag}"` })),
    );
    const whole = Buffer.concat(bodies);
    expect(record).toEqual({
      key: "movie.mp4",
      size: whole.byteLength,
      etag: multipartEtag(bodies),
      contentType: "video/mp4",
      metadata: { title: "T" },
      headers: {},
      uploaded: Date.UTC(2031, 5, 1),
    });
    expect(record.etag).toMatch(/^[0-9a-f]{32}-3$/);
    expect(store.head("movie.mp4")).toEqual(record);
    expect(md5(await read(store, "movie.mp4"))).toBe(md5(whole));
    // The parts' files became the object's: nothing was copied or left over.
    expect(blobsOf(store)).toEqual(blobs);
    expect(store.upload(upload.id)).toBeUndefined();
    expect(store.uploads()).toEqual([]);
    await failsWith(() => store.parts(upload.id), "NIMBUS_BUCKET_NO_SUCH_UPLOAD");
  });

  test("get: ranges of a multipart object across part boundaries", { timeout: 30_000 }, async () => {
    const store = open();
    const bodies = fivePartsWorth();
    const { upload, parts } = await uploaded(store, "k", bodies);
    store.completeUpload(upload.id, parts);
    const whole = Buffer.concat(bodies);
    const size = whole.byteLength;
    const ranges = [
      { offset: minPartSize - 10, length: 20 },
      { offset: minPartSize, length: 5 },
      { offset: minPartSize - 1, length: 1 },
      { offset: minPartSize - 5, length: minPartSize + 10 },
      { offset: 2 * minPartSize + 1 },
      { suffix: 1234 + 100 },
      { offset: 123, length: size },
    ];
    for (const range of ranges) {
      const result = await store.get("k", { range });
      if (result.status !== "ok") throw new Error(result.status);
      const { offset, length } = result.range;
      expectBytes(await bytesOf(result.body), whole.subarray(offset, offset + length), JSON.stringify(range));
    }
  });

  test("completeUpload: parts left out are removed, and the rest joined in the order listed", {
    timeout: 30_000,
  }, async () => {
    const store = open();
    const bodies = [randomBytes(minPartSize), randomBytes(100), randomBytes(200), randomBytes(300)];
    const { upload, parts } = await uploaded(store, "k", bodies);
    expect(blobsOf(store)).toHaveLength(4);
    const record = store.completeUpload(upload.id, [parts[0]!, parts[2]!]);
    expect(record.etag).toBe(multipartEtag([bodies[0]!, bodies[2]!]));
    expectBytes(await read(store, "k"), Buffer.concat([bodies[0]!, bodies[2]!]));
    expect(blobsOf(store)).toHaveLength(2);
    store.delete(["k"]);
    expect(blobsOf(store)).toEqual([]);
  });

  test("completeUpload: an empty, unordered, repeated, unknown, mismatched or too small part list fails and keeps the upload", async () => {
    const store = open();
    const bodies = [randomBytes(10), randomBytes(minPartSize), randomBytes(minPartSize - 1), randomBytes(20)];
    const { upload, parts } = await uploaded(store, "k", bodies);
    const [one, two, three, four] = parts.map((p) => ({ number: p.number, etag: p.etag }));
    // S3 tells these apart (InvalidPart, InvalidPartOrder, EntityTooSmall), so the codes do too.
    const cases = [
      { list: [], says: "at least one part", code: "NIMBUS_BUCKET_PART" },
      { list: [two!, one!], says: "ascending", code: "NIMBUS_BUCKET_PART_ORDER" },
      { list: [two!, two!], says: "ascending", code: "NIMBUS_BUCKET_PART_ORDER" },
      { list: [two!, { number: 5, etag: four!.etag }], says: "part 5 was never uploaded", code: "NIMBUS_BUCKET_PART" },
      {
        list: [two!, { number: 4, etag: three!.etag }],
        says: `part 4's ETag is ${four!.etag}`,
        code: "NIMBUS_BUCKET_PART",
      },
      { list: [one!, two!], says: "part 1 is 10 bytes", code: "NIMBUS_BUCKET_PART_TOO_SMALL" },
      { list: [two!, three!, four!], says: `part 3 is ${minPartSize - 1} bytes`, code: "NIMBUS_BUCKET_PART_TOO_SMALL" },
    ];
    for (const { list, says, code } of cases) {
      const error = await failsWith(() => store.completeUpload(upload.id, list), code);
      expect(error.message, JSON.stringify(list)).toContain(says);
      expect(error.message).toContain('bucket "receipts", key "k"');
    }
    expect(store.head("k")).toBeUndefined();
    expect(store.parts(upload.id)).toEqual(parts);
    expect(blobsOf(store)).toHaveLength(4);
    // A small last part is fine, and so is a single small part.
    store.completeUpload(upload.id, [two!, four!]);
    expectBytes(await read(store, "k"), Buffer.concat([bodies[1]!, bodies[3]!]));
    const single = await uploaded(store, "single", [Buffer.from("tiny")]);
    expect(store.completeUpload(single.upload.id, single.parts).size).toBe(4);
  });

  test("completeUpload: a failed condition writes nothing and keeps the upload", async () => {
    const store = open();
    await store.put("k", Buffer.from("existing"));
    const { upload, parts } = await uploaded(store, "k", [Buffer.from("one")]);
    await failsWith(
      () => store.completeUpload(upload.id, parts, { onlyIf: { etagDoesNotMatch: "*" } }),
      "NIMBUS_BUCKET_PRECONDITION",
    );
    expect((await read(store, "k")).toString()).toBe("existing");
    expect(store.parts(upload.id)).toEqual(parts);
    expect(blobsOf(store)).toHaveLength(1);
  });

  test("completeUpload: an upload aborted by another thread just before the commit fails and leaves no broken object", async () => {
    const clock = testClock();
    const store = open({ now: clock.now });
    const other = open();
    const { upload, parts } = await uploaded(store, "k", [Buffer.from("one")]);
    clock.beforeNextRead(() => other.abortUpload(upload.id));
    await failsWith(() => store.completeUpload(upload.id, parts), "NIMBUS_BUCKET_NO_SUCH_UPLOAD");
    expect(store.head("k")).toBeUndefined();
    expect(blobsOf(store)).toEqual([]);
  });

  test("completeUpload: of two threads completing one upload, one wins and the object stays readable", async () => {
    const clock = testClock();
    const store = open({ now: clock.now });
    const other = open();
    const { upload, parts } = await uploaded(store, "k", [Buffer.from("one")]);
    let winner: ObjectRecord | undefined;
    clock.beforeNextRead(() => {
      winner = other.completeUpload(upload.id, parts);
    });
    await failsWith(() => store.completeUpload(upload.id, parts), "NIMBUS_BUCKET_NO_SUCH_UPLOAD");
    expect(store.head("k")).toEqual(winner);
    expect((await read(store, "k")).toString()).toBe("one");
    expect(blobsOf(store)).toHaveLength(1);
  });

  test("abortUpload: removes the upload and its parts' files; later calls fail with NIMBUS_BUCKET_NO_SUCH_UPLOAD", async () => {
    const store = open();
    const { upload, parts } = await uploaded(store, "k", [Buffer.from("one"), randomBytes(inlineLimit * 2)]);
    const otherUpload = store.createUpload("other");
    await store.putPart(otherUpload.id, 1, Buffer.from("other"));
    store.abortUpload(upload.id);
    expect(store.uploads()).toEqual([otherUpload]);
    expect(blobsOf(store)).toHaveLength(1);
    expect(store.head("k")).toBeUndefined();
    const error = await failsWith(() => store.abortUpload(upload.id), "NIMBUS_BUCKET_NO_SUCH_UPLOAD");
    expect(error.message).toContain(upload.id);
    await failsWith(() => store.putPart(upload.id, 1, Buffer.from("x")), "NIMBUS_BUCKET_NO_SUCH_UPLOAD");
    await failsWith(() => store.completeUpload(upload.id, parts), "NIMBUS_BUCKET_NO_SUCH_UPLOAD");
    await failsWith(() => store.parts(upload.id), "NIMBUS_BUCKET_NO_SUCH_UPLOAD");
    expect(blobsOf(store)).toHaveLength(1);
  });

  test("copy: a multipart object is copied with its ETag and every part", async () => {
    const store = open();
    const archive = open({ name: "archive" });
    const bodies = [randomBytes(minPartSize), randomBytes(inlineLimit + 1)];
    const { upload, parts } = await uploaded(store, "k", bodies);
    const record = store.completeUpload(upload.id, parts);
    const copy = await archive.copy(store, "k", "k");
    expect(copy.etag).toBe(record.etag);
    store.delete(["k"]);
    expect(blobsOf(store)).toEqual([]);
    const range = { offset: minPartSize - 3, length: 6 };
    expectBytes(await read(archive, "k", { range }), Buffer.concat(bodies).subarray(minPartSize - 3, minPartSize + 3));
  });

  test("get: a multipart object's stream taken before the object is deleted reads every part", async () => {
    const store = open();
    const bodies = [randomBytes(minPartSize), randomBytes(1000)];
    const { upload, parts } = await uploaded(store, "k", bodies);
    store.completeUpload(upload.id, parts);
    const result = await store.get("k");
    if (result.status !== "ok") throw new Error(result.status);
    store.delete(["k"]);
    expect(blobsOf(store)).toEqual([]);
    expectBytes(await bytesOf(result.body), Buffer.concat(bodies));
  });
});

describe("sweep", () => {
  const longAgo = new Date(Date.UTC(2001, 0, 1));

  async function withLeftovers() {
    const first = open();
    await first.put("object", randomBytes(inlineLimit * 2));
    const upload = first.createUpload("pending");
    await first.putPart(upload.id, 1, Buffer.from("part"));
    const referenced = blobsOf(first);
    expect(referenced).toHaveLength(2);
    first.close();
    const blobs = join(first.dir, "blobs");
    const stale = "0".repeat(32);
    const fresh = "f".repeat(32);
    writeFileSync(join(blobs, stale), "left by a killed process");
    writeFileSync(join(blobs, fresh), "left by a process killed a moment ago");
    for (const name of [...referenced, stale]) utimesSync(join(blobs, name), longAgo, longAgo);
    return { referenced, stale, fresh, upload };
  }

  // The emulator sweeps only at start-up, before any function could be writing, so
  // every file no row refers to is a leftover, however new.
  test("open: with sweep, removes every unreferenced file and keeps the referenced ones", async () => {
    const { referenced, upload } = await withLeftovers();
    const store = open({ sweep: true });
    expect(blobsOf(store)).toEqual(referenced);
    expect((await read(store, "object")).byteLength).toBe(inlineLimit * 2);
    expect(store.parts(upload.id)).toHaveLength(1);
  });

  test("open: without sweep, leaves every file alone", async () => {
    const { referenced, stale, fresh } = await withLeftovers();
    const store = open();
    expect(blobsOf(store)).toEqual([...referenced, stale, fresh].sort());
  });
});

describe("clear", () => {
  test("clear: removes every object, upload and file, and the bucket stays usable", async () => {
    const store = open();
    await store.put("small", Buffer.from("x"));
    await store.put("large", randomBytes(inlineLimit * 2));
    const upload = store.createUpload("pending");
    await store.putPart(upload.id, 1, Buffer.from("part"));
    store.clear();
    expect(store.list()).toEqual({ objects: [], prefixes: [], truncated: false });
    expect(store.uploads()).toEqual([]);
    expect(blobsOf(store)).toEqual([]);
    expect(await store.get("small")).toEqual({ status: "missing" });
    await failsWith(() => store.parts(upload.id), "NIMBUS_BUCKET_NO_SUCH_UPLOAD");
    await store.put("small", Buffer.from("again"));
    expect((await read(store, "small")).toString()).toBe("again");
  });
});

describe("notifications", () => {
  const start = Date.UTC(2030, 0, 1, 12);

  function notifying(options: OpenOptions = {}): BucketStore {
    const store = open({ now: () => start, ...options });
    store.setNotifying(true);
    return store;
  }

  /** The outbox without the ids, which only order it. */
  function outbox(store: BucketStore) {
    return store.changes().map(({ id: _, ...change }) => change);
  }

  test("put: records the key, size, ETag, commit time and PutObject; an overwrite is created again", async () => {
    const clock = testClock(start);
    const store = notifying({ now: clock.now });
    const first = await store.put("receipts/a.json", Buffer.from("one"));
    clock.set(start + 1000);
    const second = await store.put("receipts/a.json", randomBytes(inlineLimit * 2));
    expect(outbox(store)).toEqual([
      { event: "created", reason: "PutObject", key: "receipts/a.json", size: 3, etag: first.etag, time: start },
      {
        event: "created",
        reason: "PutObject",
        key: "receipts/a.json",
        size: inlineLimit * 2,
        etag: second.etag,
        time: start + 1000,
      },
    ]);
  });

  test("copy: records CopyObject in the destination bucket only", async () => {
    const store = notifying();
    const archive = notifying({ name: "archive" });
    const record = await store.put("a", Buffer.from("body"));
    store.dropChanges(store.changes()[0]!.id);
    await archive.copy(store, "a", "b");
    await store.copy(store, "a", "c");
    expect(outbox(archive)).toEqual([
      { event: "created", reason: "CopyObject", key: "b", size: 4, etag: record.etag, time: start },
    ]);
    expect(outbox(store)).toEqual([
      { event: "created", reason: "CopyObject", key: "c", size: 4, etag: record.etag, time: start },
    ]);
  });

  test("completeUpload: records CompleteMultipartUpload with the object's size and multipart ETag", async () => {
    const store = notifying();
    const upload = store.createUpload("video.mp4");
    const part = await store.putPart(upload.id, 1, Buffer.from("frames"));
    expect(store.changes()).toEqual([]);
    const record = store.completeUpload(upload.id, [{ number: 1, etag: part.etag }]);
    expect(outbox(store)).toEqual([
      {
        event: "created",
        reason: "CompleteMultipartUpload",
        key: "video.mp4",
        size: 6,
        etag: record.etag,
        time: start,
      },
    ]);
    expect(record.etag).toMatch(/-1$/);
  });

  test("delete: records each deleted key with the deleted object's size and ETag; missing keys record nothing", async () => {
    const store = notifying();
    const a = await store.put("a", Buffer.from("aa"));
    const b = await store.put("b", randomBytes(inlineLimit + 1));
    store.dropChanges(store.changes().at(-1)!.id);
    store.delete(["a", "missing", "b"]);
    store.delete(["a"]);
    expect(outbox(store)).toEqual([
      { event: "deleted", reason: "DeleteObject", key: "a", size: 2, etag: a.etag, time: start },
      { event: "deleted", reason: "DeleteObject", key: "b", size: inlineLimit + 1, etag: b.etag, time: start },
    ]);
  });

  test("put: a failed condition, a wrong Content-MD5 and a failed completeUpload record nothing", async () => {
    const store = notifying();
    await store.put("k", Buffer.from("existing"));
    store.dropChanges(store.changes()[0]!.id);
    await failsWith(
      () => store.put("k", Buffer.from("new"), { onlyIf: { etagDoesNotMatch: "*" } }),
      "NIMBUS_BUCKET_PRECONDITION",
    );
    await failsWith(() => store.put("k", Buffer.from("new"), { md5: "0".repeat(32) }), "NIMBUS_BUCKET_BAD_DIGEST");
    await failsWith(
      () => store.copy(store, "k", "copy", { onlyIf: { etagMatches: "nope" } }),
      "NIMBUS_BUCKET_PRECONDITION",
    );
    const upload = store.createUpload("k");
    const part = await store.putPart(upload.id, 1, Buffer.from("part"));
    await failsWith(
      () => store.completeUpload(upload.id, [{ number: 1, etag: part.etag }], { onlyIf: { etagDoesNotMatch: "*" } }),
      "NIMBUS_BUCKET_PRECONDITION",
    );
    expect(store.changes()).toEqual([]);
  });

  test("put: records nothing while notifying is off, which it is for a new bucket", async () => {
    const store = open();
    await store.put("a", Buffer.from("x"));
    store.delete(["a"]);
    expect(store.changes()).toEqual([]);
    store.setNotifying(true);
    await store.put("b", Buffer.from("x"));
    store.setNotifying(false);
    await store.put("c", Buffer.from("x"));
    store.delete(["b", "c"]);
    expect(store.changes().map((change) => change.key)).toEqual(["b"]);
  });

  test("setNotifying: the flag set by one store is seen at once by another open on the same folder, as a worker's is", async () => {
    const emulator = open();
    const worker = open();
    await worker.put("before", Buffer.from("x"));
    emulator.setNotifying(true);
    emulator.setNotifying(true);
    await worker.put("on", Buffer.from("x"));
    emulator.setNotifying(false);
    await worker.put("off", Buffer.from("x"));
    expect(emulator.changes().map((change) => change.key)).toEqual(["on"]);
    expect(open({ name: "other" }).changes()).toEqual([]);
  });

  test("changes: pages in commit order; dropChanges removes those up to an id and keeps the later ones", async () => {
    const store = notifying();
    for (let i = 0; i < 5; i++) await store.put(`k${i}`, Buffer.from(String(i)));
    const page = store.changes(2);
    expect(page.map((change) => change.key)).toEqual(["k0", "k1"]);
    expect(page[0]!.id).toBeLessThan(page[1]!.id);
    store.dropChanges(page[1]!.id);
    expect(store.changes().map((change) => change.key)).toEqual(["k2", "k3", "k4"]);
  });

  test("onChange: called after each write that recorded a change, once it is committed; changesRecorded counts them", async () => {
    const calls: string[][] = [];
    const reader = open();
    const store = notifying({
      onChange: () => calls.push(reader.changes().map((change) => change.key)),
    });
    await store.put("a", Buffer.from("x"));
    store.delete(["missing"]);
    await failsWith(
      () => store.put("a", Buffer.from("y"), { onlyIf: { etagDoesNotMatch: "*" } }),
      "NIMBUS_BUCKET_PRECONDITION",
    );
    expect(store.changesRecorded).toBe(1);
    await store.put("b", Buffer.from("x"));
    store.delete(["a", "b"]);
    expect(calls).toEqual([["a"], ["a", "b"], ["a", "b", "a", "b"]]);
    expect(store.changesRecorded).toBe(4);
    store.setNotifying(false);
    await store.put("c", Buffer.from("x"));
    expect(calls).toHaveLength(3);
  });

  test("clear: empties the outbox, and later changes get new ids", async () => {
    const store = notifying();
    await store.put("a", Buffer.from("x"));
    const before = store.changes()[0]!.id;
    store.clear();
    expect(store.changes()).toEqual([]);
    await store.put("b", Buffer.from("x"));
    expect(store.changes()[0]!.id).toBeGreaterThan(before);
    // A drain that was notifying the cleared change drops nothing recorded after it.
    store.dropChanges(before);
    expect(store.changes().map((change) => change.key)).toEqual(["b"]);
  });

  test("open: changes recorded before a store was closed are there when the folder is opened again", async () => {
    const first = notifying();
    await first.put("a", Buffer.from("x"));
    first.close();
    expect(outbox(open())).toEqual([
      { event: "created", reason: "PutObject", key: "a", size: 1, etag: md5(Buffer.from("x")), time: start },
    ]);
  });
});

describe("multipart: parts of completed objects, and completions kept for retries", () => {
  async function completed(store: BucketStore, key: string, bodies: Uint8Array[]) {
    const upload = store.createUpload(key);
    const parts = [];
    for (const [index, body] of bodies.entries()) parts.push(await store.putPart(upload.id, index + 1, body));
    const record = store.completeUpload(
      upload.id,
      parts.map((p) => ({ number: p.number, etag: p.etag })),
    );
    return { upload, parts, record };
  }

  test("get / headPart: part N of a multipart object is its bytes and counts the parts; part 1 of any other object is all of it", async () => {
    const store = open();
    const bodies = [randomBytes(minPartSize), randomBytes(10)];
    await completed(store, "mp", bodies);
    const second = await store.get("mp", { part: 2 });
    if (second.status !== "ok") throw new Error(second.status);
    expect(second.range).toEqual({ offset: minPartSize, length: 10 });
    expect(second.parts).toBe(2);
    expect(Buffer.from(await new Response(second.body).arrayBuffer())).toEqual(Buffer.from(bodies[1]!));
    expect(store.headPart("mp", 1)).toMatchObject({ range: { offset: 0, length: minPartSize }, parts: 2 });
    await expect(store.get("mp", { part: 3 })).rejects.toMatchObject({ code: "NIMBUS_BUCKET_RANGE" });

    await store.put("whole", Buffer.from("0123456789"));
    expect(store.headPart("whole", 1)).toMatchObject({ range: { offset: 0, length: 10 }, parts: undefined });
    expect(() => store.headPart("whole", 2)).toThrow(/part 2 is not one of the object's 1 part/);
    expect(store.headPart("missing", 1)).toBeUndefined();
  });

  test("completion: what completing answered is kept for a day, then forgotten; a reset forgets it at once", async () => {
    const clock = testClock();
    const store = open({ now: clock.now });
    const { upload, parts, record } = await completed(store, "done", [Buffer.from("a")]);
    expect(store.upload(upload.id)).toBeUndefined();
    expect(store.completion(upload.id)).toEqual({
      key: "done",
      parts: [{ number: 1, etag: parts[0]!.etag }],
      etag: record.etag,
      completed: clock.now(),
    });
    clock.set(clock.now() + completionRetentionMs + 1);
    expect(store.completion(upload.id)).toBeUndefined();

    const again = await completed(store, "again", [Buffer.from("b")]);
    expect(store.completion(again.upload.id)).toBeDefined();
    store.clear();
    expect(store.completion(again.upload.id)).toBeUndefined();
  });
});
