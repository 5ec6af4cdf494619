import { describe, expect, it } from "vitest";
import { type BucketBodySource, type BucketRecord, type BucketTransport, bucketClient } from "./bucket.ts";

/** A transport over a map, keeping what each call received, to see what the client passes on and maps back. */
function memory() {
  const objects = new Map<string, { record: BucketRecord; body: Uint8Array }>();
  const calls: { method: string; args: unknown[] }[] = [];
  const read = async (body: BucketBodySource) =>
    body instanceof Uint8Array ? body : new Uint8Array(await new Response(body).arrayBuffer());
  const transport: BucketTransport = {
    async get(key, options) {
      calls.push({ method: "get", args: [key, options] });
      const found = objects.get(key);
      return found
        ? { record: found.record, body: found.body, range: { offset: 0, length: found.body.byteLength } }
        : null;
    },
    async put(key, body, options) {
      calls.push({ method: "put", args: [key, body, options] });
      const bytes = await read(body);
      const record: BucketRecord = {
        key,
        size: bytes.byteLength,
        etag: `etag-${objects.size}`,
        contentType: options.contentType ?? "application/octet-stream",
        metadata: options.metadata ?? {},
        uploaded: Date.UTC(2030, 0, 1),
      };
      objects.set(key, { record, body: bytes });
      return record;
    },
    async head(key) {
      return objects.get(key)?.record ?? null;
    },
    async delete(keys) {
      calls.push({ method: "delete", args: [keys] });
      for (const key of keys) objects.delete(key);
    },
    async list() {
      const records = [...objects.values()].map(({ record }) => record);
      return { objects: records, prefixes: [], truncated: true, cursor: "next" };
    },
    async presign(key, options) {
      return `https://signed/${key}?method=${options.method}`;
    },
  };
  return { client: bucketClient("receipts", transport), objects, calls };
}

describe("bucketClient", () => {
  it("put: a string is stored as its UTF-8 bytes, a typed array as exactly its view, a small Blob as its bytes", async () => {
    const { client, objects } = memory();
    await client.put("s", "café");
    await client.put("v", new Uint8Array([9, 1, 2, 9]).subarray(1, 3));
    await client.put("b", new Blob(["blob"]));
    await client.put("r", new Blob(["stream"]).stream());

    expect(new TextDecoder().decode(objects.get("s")!.body)).toBe("café");
    expect([...objects.get("v")!.body]).toEqual([1, 2]);
    expect(new TextDecoder().decode(objects.get("b")!.body)).toBe("blob");
    expect(new TextDecoder().decode(objects.get("r")!.body)).toBe("stream");
  });

  it("put: a body of another type fails with NIMBUS_BUCKET_ARGUMENT naming the bucket, the key and the type", async () => {
    const { client, calls } = memory();
    await expect(client.put("a/b", 42 as never)).rejects.toMatchObject({
      code: "NIMBUS_BUCKET_ARGUMENT",
      message:
        'bucket "receipts", key "a/b": put takes a string, an ArrayBuffer, a typed array, a Blob or a ReadableStream; found number',
    });
    await expect(client.put("a/b", null as never)).rejects.toThrow(/found null/);
    expect(calls).toEqual([]);
  });

  it("put, get: an onlyIf date that is not a valid Date fails with NIMBUS_BUCKET_ARGUMENT", async () => {
    const { client, calls } = memory();
    await expect(client.put("k", "x", { onlyIf: { uploadedBefore: new Date("never") } })).rejects.toMatchObject({
      code: "NIMBUS_BUCKET_ARGUMENT",
      message: 'bucket "receipts": onlyIf.uploadedBefore must be a valid Date',
    });
    await expect(client.get("k", { onlyIf: { uploadedAfter: "2030-01-01" as never } })).rejects.toThrow(
      /onlyIf.uploadedAfter must be a valid Date/,
    );
    expect(calls).toEqual([]);
    // A valid condition reaches the transport as it was given.
    const onlyIf = { uploadedAfter: new Date(0), etagDoesNotMatch: "*" };
    await client.get("k", { onlyIf });
    expect(calls).toEqual([{ method: "get", args: ["k", { range: undefined, onlyIf }] }]);
  });

  it("delete: takes up to 1000 keys; more fail with NIMBUS_BUCKET_ARGUMENT before anything is deleted", async () => {
    const { client, calls } = memory();
    const keys = Array.from({ length: 1001 }, (_, index) => `k${index}`);
    await expect(client.delete(keys)).rejects.toMatchObject({
      code: "NIMBUS_BUCKET_ARGUMENT",
      message: expect.stringContaining("delete takes at most 1000 keys at once (as S3's DeleteObjects); found 1001"),
    });
    expect(calls).toEqual([]);
    await client.delete(keys.slice(0, 1000));
    await client.delete("one");
    expect(calls.map(({ args }) => (args[0] as string[]).length)).toEqual([1000, 1]);
  });

  it("get: the object's info, and a body that its helpers read once", async () => {
    const { client } = memory();
    await client.put("order.json", '{"id":7}', { contentType: "application/json", metadata: { by: "api" } });
    const object = await client.get("order.json");
    expect(object).toMatchObject({
      key: "order.json",
      size: 8,
      contentType: "application/json",
      metadata: { by: "api" },
      uploaded: new Date(Date.UTC(2030, 0, 1)),
    });
    expect(object).not.toHaveProperty("range");
    expect(await object!.json()).toEqual({ id: 7 });
    await expect(object!.text()).rejects.toMatchObject({
      code: "NIMBUS_BUCKET_BODY",
      message: expect.stringContaining('key "order.json": the body of this object was already read'),
    });

    const streamed = await client.get("order.json");
    expect(await new Response(streamed!.body).text()).toBe('{"id":7}');
    expect(await client.get("missing")).toBeNull();
  });

  it("get: with a range, the object says which bytes it holds", async () => {
    const { client } = memory();
    await client.put("k", "abc");
    expect((await client.get("k", { range: { offset: 0 } }))!.range).toEqual({ offset: 0, length: 3 });
  });

  it("head, list: uploaded as a Date; list's cursor passed on when truncated", async () => {
    const { client } = memory();
    await client.put("k", "abc");
    expect((await client.head("k"))!.uploaded).toEqual(new Date(Date.UTC(2030, 0, 1)));
    expect(await client.head("missing")).toBeNull();
    expect(await client.list()).toEqual({
      objects: [{ key: "k", size: 3, etag: "etag-0", uploaded: new Date(Date.UTC(2030, 0, 1)) }],
      prefixes: [],
      truncated: true,
      cursor: "next",
    });
  });
});
