import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";

let emu: Emulator;
let s3: S3Client;
let remove: () => Promise<void>;

beforeAll(async () => {
  const copy = await copyFixture("buckets");
  remove = copy.remove;
  emu = await createEmulator({ root: copy.dir, watch: false, clock: "manual" });
  s3 = client();
});

afterAll(async () => {
  s3?.destroy();
  await emu?.close();
  await remove?.();
});

function client(overrides: { secretAccessKey?: string; accessKeyId?: string } = {}): S3Client {
  return new S3Client({
    endpoint: emu.s3.endpoint,
    region: emu.s3.region,
    forcePathStyle: true,
    credentials: { accessKeyId: emu.s3.accessKeyId, secretAccessKey: emu.s3.secretAccessKey, ...overrides },
  });
}

/** The S3 error a command fails with: its code and HTTP status. */
async function failure(promise: Promise<unknown>): Promise<{ code: string; status?: number; message: string }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof S3ServiceException) {
      return { code: error.name, status: error.$metadata.httpStatusCode, message: error.message };
    }
    throw error;
  }
  throw new Error("expected the command to fail");
}

const md5 = (data: string | Uint8Array) => createHash("md5").update(data).digest("hex");

describe("S3 endpoint: objects through @aws-sdk/client-s3", () => {
  it("PutObject / GetObject: round-trips body, content type, metadata and standard headers", async () => {
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: "uploads",
        Key: "sdk/hello.txt",
        Body: "hello from the SDK",
        ContentType: "text/plain",
        Metadata: { author: "ada" },
        CacheControl: "max-age=60",
        ContentDisposition: 'attachment; filename="hello.txt"',
      }),
    );
    expect(put.ETag).toBe(`"${md5("hello from the SDK")}"`);
    const got = await s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "sdk/hello.txt" }));
    expect(await got.Body?.transformToString()).toBe("hello from the SDK");
    expect(got).toMatchObject({
      ContentType: "text/plain",
      ContentLength: 18,
      ETag: put.ETag,
      Metadata: { author: "ada" },
      CacheControl: "max-age=60",
      ContentDisposition: 'attachment; filename="hello.txt"',
    });
    expect(got.LastModified).toBeInstanceOf(Date);
  });

  it("PutObject: what the endpoint writes the binding reads, and the other way round", async () => {
    await s3.send(new PutObjectCommand({ Bucket: "uploads", Key: "shared/from-s3", Body: "s3" }));
    const object = await emu.bucket("uploads").get("shared/from-s3");
    expect(await object?.text()).toBe("s3");
    await emu.bucket("uploads").put("shared/from-binding", "binding", { metadata: { via: "binding" } });
    const got = await s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "shared/from-binding" }));
    expect(await got.Body?.transformToString()).toBe("binding");
    expect(got.Metadata).toEqual({ via: "binding" });
  });

  it("PutObject: a streamed body of unknown length arrives whole (aws-chunked with a trailing checksum)", async () => {
    const chunk = new Uint8Array(256 * 1024).map((_, i) => i % 256);
    const chunks = function* () {
      for (let i = 0; i < 12; i++) yield chunk;
    };
    const expected = createHash("md5");
    for (const part of chunks()) expected.update(part);
    // A Node stream with its length declared: the SDK sends it aws-chunked with a CRC32 trailer.
    const put = await s3.send(
      new PutObjectCommand({
        Bucket: "uploads",
        Key: "sdk/streamed",
        Body: Readable.from(chunks()),
        ContentLength: 12 * 256 * 1024,
      }),
    );
    expect(put.ETag).toBe(`"${expected.digest("hex")}"`);
    const head = await s3.send(new HeadObjectCommand({ Bucket: "uploads", Key: "sdk/streamed" }));
    expect(head.ContentLength).toBe(12 * 256 * 1024);
  });

  it("PutObject: keys with spaces, plus signs, percent signs, unicode and dot segments keep their exact bytes", async () => {
    const keys = ["a b+c%20d", "../up", "x/./y", "x//y", "ünïcødé/😀", "trailing/", "q?x=1&y=2#z"];
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: "uploads", Key: `weird/${key}`, Body: key }));
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: "uploads", Prefix: "weird/" }));
    const expected = keys.map((key) => `weird/${key}`).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    expect(listed.Contents?.map((o) => o.Key)).toEqual(expected);
    for (const key of keys) {
      const got = await s3.send(new GetObjectCommand({ Bucket: "uploads", Key: `weird/${key}` }));
      expect(await got.Body?.transformToString(), key).toBe(key);
      expect(await (await emu.bucket("uploads").get(`weird/${key}`))?.text(), key).toBe(key);
    }
  });

  it("PutObject: a wrong Content-MD5 is BadDigest and stores nothing", async () => {
    const error = await failure(
      s3.send(
        new PutObjectCommand({
          Bucket: "uploads",
          Key: "sdk/bad-md5",
          Body: "payload",
          ContentMD5: Buffer.from(createHash("md5").update("other").digest()).toString("base64"),
        }),
      ),
    );
    expect(error).toMatchObject({ code: "BadDigest", status: 400 });
    expect(await emu.bucket("uploads").head("sdk/bad-md5")).toBeNull();
  });

  it("PutObject: If-None-Match * creates only once; If-Match replaces only the version read", async () => {
    const first = await s3.send(
      new PutObjectCommand({ Bucket: "uploads", Key: "sdk/cas", Body: "v1", IfNoneMatch: "*" }),
    );
    expect(
      await failure(s3.send(new PutObjectCommand({ Bucket: "uploads", Key: "sdk/cas", Body: "v2", IfNoneMatch: "*" }))),
    ).toMatchObject({ code: "PreconditionFailed", status: 412 });
    await s3.send(new PutObjectCommand({ Bucket: "uploads", Key: "sdk/cas", Body: "v2", IfMatch: first.ETag }));
    expect(
      await failure(
        s3.send(new PutObjectCommand({ Bucket: "uploads", Key: "sdk/cas", Body: "v3", IfMatch: first.ETag })),
      ),
    ).toMatchObject({ code: "PreconditionFailed", status: 412 });
    const got = await s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "sdk/cas" }));
    expect(await got.Body?.transformToString()).toBe("v2");
  });

  it("GetObject: ranges answer 206 with Content-Range; an unsatisfiable one is InvalidRange", async () => {
    await s3.send(new PutObjectCommand({ Bucket: "uploads", Key: "sdk/digits", Body: "0123456789" }));
    const read = async (Range: string) => {
      const got = await s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "sdk/digits", Range }));
      return { text: await got.Body?.transformToString(), range: got.ContentRange, length: got.ContentLength };
    };
    expect(await read("bytes=2-4")).toEqual({ text: "234", range: "bytes 2-4/10", length: 3 });
    expect(await read("bytes=7-")).toEqual({ text: "789", range: "bytes 7-9/10", length: 3 });
    expect(await read("bytes=-3")).toEqual({ text: "789", range: "bytes 7-9/10", length: 3 });
    expect(
      await failure(s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "sdk/digits", Range: "bytes=20-30" }))),
    ).toMatchObject({ code: "InvalidRange", status: 416 });
  });

  it("GetObject: If-Match, If-None-Match, If-Modified-Since and If-Unmodified-Since", async () => {
    const put = await s3.send(new PutObjectCommand({ Bucket: "uploads", Key: "sdk/cond", Body: "x" }));
    const head = await s3.send(new HeadObjectCommand({ Bucket: "uploads", Key: "sdk/cond" }));
    const modified = head.LastModified!;
    const get = (input: Record<string, unknown>) =>
      s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "sdk/cond", ...input }));
    await expect(get({ IfMatch: put.ETag })).resolves.toBeDefined();
    expect(await failure(get({ IfMatch: '"0000"' }))).toMatchObject({ code: "PreconditionFailed", status: 412 });
    expect(await failure(get({ IfNoneMatch: put.ETag }))).toMatchObject({ status: 304 });
    expect(await failure(get({ IfModifiedSince: modified }))).toMatchObject({ status: 304 });
    await expect(get({ IfModifiedSince: new Date(modified.getTime() - 1000) })).resolves.toBeDefined();
    await expect(get({ IfUnmodifiedSince: modified })).resolves.toBeDefined();
    expect(await failure(get({ IfUnmodifiedSince: new Date(modified.getTime() - 1000) }))).toMatchObject({
      code: "PreconditionFailed",
    });
  });

  it("GetObject: response-* overrides change the answer's headers", async () => {
    await s3.send(
      new PutObjectCommand({ Bucket: "uploads", Key: "sdk/override", Body: "{}", ContentType: "text/plain" }),
    );
    const got = await s3.send(
      new GetObjectCommand({
        Bucket: "uploads",
        Key: "sdk/override",
        ResponseContentType: "application/json",
        ResponseContentDisposition: "inline",
      }),
    );
    expect(got.ContentType).toBe("application/json");
    expect(got.ContentDisposition).toBe("inline");
  });

  it("GetObject / HeadObject: a missing key is NoSuchKey (404), a missing bucket NoSuchBucket", async () => {
    expect(await failure(s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "nope" })))).toMatchObject({
      code: "NoSuchKey",
      status: 404,
    });
    expect(await failure(s3.send(new HeadObjectCommand({ Bucket: "uploads", Key: "nope" })))).toMatchObject({
      status: 404,
    });
    expect(await failure(s3.send(new GetObjectCommand({ Bucket: "no-such-bucket", Key: "k" })))).toMatchObject({
      code: "NoSuchBucket",
      status: 404,
    });
  });

  it("CopyObject: copies with metadata kept or replaced, across buckets, honouring source conditions", async () => {
    const source = await s3.send(
      new PutObjectCommand({
        Bucket: "uploads",
        Key: "sdk/src",
        Body: "original",
        ContentType: "text/plain",
        Metadata: { v: "1" },
      }),
    );
    const copied = await s3.send(
      new CopyObjectCommand({ Bucket: "archive", Key: "copies/src", CopySource: "uploads/sdk/src" }),
    );
    expect(copied.CopyObjectResult?.ETag).toBe(source.ETag);
    const kept = await s3.send(new HeadObjectCommand({ Bucket: "archive", Key: "copies/src" }));
    expect(kept).toMatchObject({ ContentType: "text/plain", Metadata: { v: "1" } });

    await s3.send(
      new CopyObjectCommand({
        Bucket: "uploads",
        Key: "sdk/src",
        CopySource: "uploads/sdk/src",
        MetadataDirective: "REPLACE",
        ContentType: "application/json",
        Metadata: { v: "2" },
      }),
    );
    expect(await s3.send(new HeadObjectCommand({ Bucket: "uploads", Key: "sdk/src" }))).toMatchObject({
      ContentType: "application/json",
      Metadata: { v: "2" },
    });
    expect(
      await failure(
        s3.send(new CopyObjectCommand({ Bucket: "uploads", Key: "sdk/src", CopySource: "uploads/sdk/src" })),
      ),
    ).toMatchObject({ code: "InvalidRequest", status: 400 });
    expect(
      await failure(
        s3.send(
          new CopyObjectCommand({
            Bucket: "archive",
            Key: "copies/never",
            CopySource: "uploads/sdk/src",
            CopySourceIfMatch: '"0000"',
          }),
        ),
      ),
    ).toMatchObject({ code: "PreconditionFailed", status: 412 });
    expect(
      await failure(
        s3.send(new CopyObjectCommand({ Bucket: "archive", Key: "copies/x", CopySource: "uploads/sdk/missing" })),
      ),
    ).toMatchObject({ code: "NoSuchKey", status: 404 });
  });

  it("DeleteObject / DeleteObjects: remove one or many; missing keys are reported deleted", async () => {
    for (const key of ["del/1", "del/2", "del/3"]) {
      await s3.send(new PutObjectCommand({ Bucket: "uploads", Key: key, Body: key }));
    }
    await s3.send(new DeleteObjectCommand({ Bucket: "uploads", Key: "del/1" }));
    const result = await s3.send(
      new DeleteObjectsCommand({
        Bucket: "uploads",
        Delete: { Objects: [{ Key: "del/2" }, { Key: "del/3" }, { Key: "del/never" }] },
      }),
    );
    expect(result.Deleted?.map((d) => d.Key).sort()).toEqual(["del/2", "del/3", "del/never"]);
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: "uploads", Prefix: "del/" }));
    expect(listed.KeyCount).toBe(0);
    expect(listed.Contents).toBeUndefined();
  });
});

describe("S3 endpoint: listing", () => {
  beforeAll(async () => {
    for (const key of ["list/a/1", "list/a/2", "list/b", "list/c/1", "list/d", "list/e e", "list/é"]) {
      await s3.send(new PutObjectCommand({ Bucket: "archive", Key: key, Body: key }));
    }
  });

  it("ListObjectsV2: prefix, delimiter, max-keys and continuation tokens visit every entry once", async () => {
    const seen: string[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({
          Bucket: "archive",
          Prefix: "list/",
          Delimiter: "/",
          MaxKeys: 2,
          ContinuationToken: token,
        }),
      );
      seen.push(...(page.CommonPrefixes ?? []).map((p) => p.Prefix!), ...(page.Contents ?? []).map((o) => o.Key!));
      expect(page.KeyCount).toBe((page.CommonPrefixes?.length ?? 0) + (page.Contents?.length ?? 0));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      pages++;
    } while (token);
    expect(seen.sort()).toEqual(["list/a/", "list/b", "list/c/", "list/d", "list/e e", "list/é"].sort());
    expect(pages).toBe(3);
  });

  it("ListObjectsV2: start-after and encoding-type=url", async () => {
    const after = await s3.send(
      new ListObjectsV2Command({ Bucket: "archive", Prefix: "list/", StartAfter: "list/c/1" }),
    );
    expect(after.Contents?.map((o) => o.Key)).toEqual(["list/d", "list/e e", "list/é"]);
    const encoded = await s3.send(
      new ListObjectsV2Command({ Bucket: "archive", Prefix: "list/e", EncodingType: "url" }),
    );
    expect(encoded.Contents?.map((o) => o.Key)).toEqual(["list/e+e"]);
    expect(encoded.EncodingType).toBe("url");
  });

  it("ListObjects (V1): marker and NextMarker page through with a delimiter", async () => {
    const first = await s3.send(
      new ListObjectsCommand({ Bucket: "archive", Prefix: "list/", Delimiter: "/", MaxKeys: 1 }),
    );
    expect(first.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["list/a/"]);
    expect(first.IsTruncated).toBe(true);
    expect(first.NextMarker).toBe("list/a/");
    const second = await s3.send(
      new ListObjectsCommand({
        Bucket: "archive",
        Prefix: "list/",
        Delimiter: "/",
        MaxKeys: 2,
        Marker: first.NextMarker,
      }),
    );
    expect(second.Contents?.map((o) => o.Key)).toEqual(["list/b"]);
    expect(second.CommonPrefixes?.map((p) => p.Prefix)).toEqual(["list/c/"]);
  });
});

describe("S3 endpoint: buckets", () => {
  it("ListBuckets / HeadBucket: the app's buckets are listed and exist", async () => {
    const { Buckets } = await s3.send(new ListBucketsCommand({}));
    expect(Buckets?.map((b) => b.Name)).toEqual(expect.arrayContaining(["archive", "uploads"]));
    await expect(s3.send(new HeadBucketCommand({ Bucket: "uploads" }))).resolves.toBeDefined();
    expect(await failure(s3.send(new HeadBucketCommand({ Bucket: "missing-bucket" })))).toMatchObject({ status: 404 });
  });

  it("CreateBucket / DeleteBucket: scratch buckets come and go; the app's buckets stay", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "scratch-1" }));
    expect(await failure(s3.send(new CreateBucketCommand({ Bucket: "scratch-1" })))).toMatchObject({
      code: "BucketAlreadyOwnedByYou",
      status: 409,
    });
    await s3.send(new PutObjectCommand({ Bucket: "scratch-1", Key: "k", Body: "v" }));
    expect(await failure(s3.send(new DeleteBucketCommand({ Bucket: "scratch-1" })))).toMatchObject({
      code: "BucketNotEmpty",
      status: 409,
    });
    await s3.send(new DeleteObjectCommand({ Bucket: "scratch-1", Key: "k" }));
    await s3.send(new DeleteBucketCommand({ Bucket: "scratch-1" }));
    expect((await s3.send(new ListBucketsCommand({}))).Buckets?.map((b) => b.Name)).not.toContain("scratch-1");
    expect(await failure(s3.send(new DeleteBucketCommand({ Bucket: "uploads" })))).toMatchObject({
      code: "AccessDenied",
      status: 403,
    });
    expect(await failure(s3.send(new CreateBucketCommand({ Bucket: "Bad_Name" })))).toMatchObject({
      code: "InvalidBucketName",
      status: 400,
    });
    expect(emu.logs.some((entry) => entry.message.includes("created scratch bucket scratch-1"))).toBe(true);
  });
});

describe("S3 endpoint: multipart uploads", () => {
  const part = (seed: number, size = 5 * 1024 * 1024) => new Uint8Array(size).fill(seed);

  it("multipart: create, upload parts (one replaced), list, complete; the ETag is S3's", async () => {
    const { UploadId } = await s3.send(
      new CreateMultipartUploadCommand({ Bucket: "uploads", Key: "mp/video", ContentType: "video/mp4" }),
    );
    const etags: string[] = [];
    for (const [number, body] of [part(1), part(2), part(3, 1024)].entries()) {
      const { ETag } = await s3.send(
        new UploadPartCommand({ Bucket: "uploads", Key: "mp/video", UploadId, PartNumber: number + 1, Body: body }),
      );
      etags.push(ETag!);
    }
    // Uploading a part again replaces it.
    const again = await s3.send(
      new UploadPartCommand({ Bucket: "uploads", Key: "mp/video", UploadId, PartNumber: 2, Body: part(4) }),
    );
    etags[1] = again.ETag!;
    const parts = await s3.send(new ListPartsCommand({ Bucket: "uploads", Key: "mp/video", UploadId }));
    expect(parts.Parts?.map((p) => [p.PartNumber, p.ETag, p.Size])).toEqual([
      [1, etags[0], 5 * 1024 * 1024],
      [2, etags[1], 5 * 1024 * 1024],
      [3, etags[2], 1024],
    ]);
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: "uploads" }));
    expect(uploads.Uploads?.map((u) => [u.Key, u.UploadId])).toContainEqual(["mp/video", UploadId]);

    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: "uploads",
        Key: "mp/video",
        UploadId,
        MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
      }),
    );
    const expectedEtag = createHash("md5")
      .update(Buffer.concat(etags.map((etag) => Buffer.from(etag.replaceAll('"', ""), "hex"))))
      .digest("hex");
    expect(done.ETag).toBe(`"${expectedEtag}-3"`);
    const head = await s3.send(new HeadObjectCommand({ Bucket: "uploads", Key: "mp/video" }));
    expect(head).toMatchObject({ ContentLength: 10 * 1024 * 1024 + 1024, ContentType: "video/mp4" });
    const tail = await s3.send(
      new GetObjectCommand({
        Bucket: "uploads",
        Key: "mp/video",
        Range: `bytes=${5 * 1024 * 1024 - 2}-${5 * 1024 * 1024 + 1}`,
      }),
    );
    expect([...(await tail.Body!.transformToByteArray())]).toEqual([1, 1, 4, 4]);
  });

  it("multipart: a small part before the last is EntityTooSmall; a wrong ETag InvalidPart; disorder InvalidPartOrder", async () => {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: "uploads", Key: "mp/bad" }));
    const small = await s3.send(
      new UploadPartCommand({ Bucket: "uploads", Key: "mp/bad", UploadId, PartNumber: 1, Body: part(1, 100) }),
    );
    const last = await s3.send(
      new UploadPartCommand({ Bucket: "uploads", Key: "mp/bad", UploadId, PartNumber: 2, Body: part(2, 100) }),
    );
    const complete = (Parts: { ETag?: string; PartNumber: number }[]) =>
      failure(
        s3.send(
          new CompleteMultipartUploadCommand({
            Bucket: "uploads",
            Key: "mp/bad",
            UploadId,
            MultipartUpload: { Parts },
          }),
        ),
      );
    expect(
      await complete([
        { ETag: small.ETag, PartNumber: 1 },
        { ETag: last.ETag, PartNumber: 2 },
      ]),
    ).toMatchObject({ code: "EntityTooSmall", status: 400 });
    expect(await complete([{ ETag: '"0000"', PartNumber: 1 }])).toMatchObject({ code: "InvalidPart", status: 400 });
    expect(
      await complete([
        { ETag: last.ETag, PartNumber: 2 },
        { ETag: small.ETag, PartNumber: 1 },
      ]),
    ).toMatchObject({ code: "InvalidPartOrder", status: 400 });
    await s3.send(new AbortMultipartUploadCommand({ Bucket: "uploads", Key: "mp/bad", UploadId }));
    expect(await failure(s3.send(new ListPartsCommand({ Bucket: "uploads", Key: "mp/bad", UploadId })))).toMatchObject({
      code: "NoSuchUpload",
      status: 404,
    });
    expect(await emu.bucket("uploads").head("mp/bad")).toBeNull();
  });

  it("UploadPartCopy: builds an object from ranges of another", async () => {
    const source = new Uint8Array(6 * 1024 * 1024).map((_, i) => i % 251);
    await s3.send(new PutObjectCommand({ Bucket: "uploads", Key: "mp/source", Body: source }));
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: "archive", Key: "mp/assembled" }));
    const first = await s3.send(
      new UploadPartCopyCommand({
        Bucket: "archive",
        Key: "mp/assembled",
        UploadId,
        PartNumber: 1,
        CopySource: "uploads/mp/source",
        CopySourceRange: `bytes=0-${5 * 1024 * 1024 - 1}`,
      }),
    );
    const second = await s3.send(
      new UploadPartCopyCommand({
        Bucket: "archive",
        Key: "mp/assembled",
        UploadId,
        PartNumber: 2,
        CopySource: "uploads/mp/source",
        CopySourceRange: "bytes=0-9",
      }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: "archive",
        Key: "mp/assembled",
        UploadId,
        MultipartUpload: {
          Parts: [
            { ETag: first.CopyPartResult?.ETag, PartNumber: 1 },
            { ETag: second.CopyPartResult?.ETag, PartNumber: 2 },
          ],
        },
      }),
    );
    const got = await s3.send(new GetObjectCommand({ Bucket: "archive", Key: "mp/assembled" }));
    const bytes = await got.Body!.transformToByteArray();
    expect(bytes.byteLength).toBe(5 * 1024 * 1024 + 10);
    expect(md5(bytes)).toBe(md5(Buffer.concat([source.subarray(0, 5 * 1024 * 1024), source.subarray(0, 10)])));
  });
});

describe("S3 endpoint: signatures", () => {
  it("auth: a wrong secret is SignatureDoesNotMatch; an unknown key InvalidAccessKeyId", async () => {
    const wrong = client({ secretAccessKey: "x".repeat(40) });
    expect(await failure(wrong.send(new ListBucketsCommand({})))).toMatchObject({
      code: "SignatureDoesNotMatch",
      status: 403,
    });
    wrong.destroy();
    const unknown = client({ accessKeyId: "AKIAUNKNOWNUNKNOWN00" });
    expect(await failure(unknown.send(new ListBucketsCommand({})))).toMatchObject({
      code: "InvalidAccessKeyId",
      status: 403,
    });
    unknown.destroy();
  });

  it("auth: an unsigned request is refused", async () => {
    const response = await fetch(`${emu.s3.endpoint}/uploads/sdk/hello.txt`);
    expect(response.status).toBe(403);
    expect(await response.text()).toMatch(/<Code>AccessDenied<\/Code>/);
  });

  it("presign: SigV4 GET and PUT URLs work until the emulator's clock passes their expiry", async () => {
    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket: "uploads", Key: "presigned/file" }), {
      expiresIn: 300,
    });
    expect((await fetch(putUrl, { method: "PUT", body: "via presigned PUT" })).status).toBe(200);
    // Signed at the emulator's (manual) time, so advancing its clock expires the URL.
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket: "uploads", Key: "presigned/file" }), {
      expiresIn: 60,
      signingDate: new Date(emu.clock.now()),
    });
    const got = await fetch(getUrl);
    expect(await got.text()).toBe("via presigned PUT");

    const tampered = new URL(getUrl);
    tampered.pathname = tampered.pathname.replace("presigned/file", "presigned/other");
    const denied = await fetch(tampered);
    expect(denied.status).toBe(403);
    expect(await denied.text()).toMatch(/<Code>SignatureDoesNotMatch<\/Code>/);

    await emu.clock.advance("61s");
    const expired = await fetch(getUrl);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toMatch(/<Code>AccessDenied<\/Code><Message>Request has expired<\/Message>/);
  });

  it("auth: SDK requests keep working after the emulator's clock is advanced by hours", async () => {
    // Clients sign with the machine's time; the skew check uses it, not the test's clock.
    await emu.clock.advance("3h");
    await expect(s3.send(new ListBucketsCommand({}))).resolves.toBeDefined();
  });
});
