import { createHash } from "node:crypto";
import { request as httpRequest } from "node:http";
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
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListBucketsCommand,
  ListMultipartUploadsCommand,
  ListObjectsCommand,
  ListObjectsV2Command,
  ListObjectVersionsCommand,
  ListPartsCommand,
  PutBucketVersioningCommand,
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

describe("S3 endpoint: what tools that empty, sync and destroy buckets call", () => {
  it("GetBucketVersioning / ListObjectVersions: an unversioned bucket answers an empty configuration and lists each object as its one version, id null", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "versions-1" }));
    for (const key of ["a", "b", "dir/c d", "e"]) {
      await s3.send(new PutObjectCommand({ Bucket: "versions-1", Key: key, Body: key }));
    }
    const versioning = await s3.send(new GetBucketVersioningCommand({ Bucket: "versions-1" }));
    expect(versioning.Status).toBeUndefined();
    expect(versioning.MFADelete).toBeUndefined();

    const seen: [string, string | undefined, boolean | undefined][] = [];
    const prefixes: string[] = [];
    let markers: { KeyMarker?: string; VersionIdMarker?: string } = {};
    let pages = 0;
    for (;;) {
      const page = await s3.send(
        new ListObjectVersionsCommand({ Bucket: "versions-1", MaxKeys: 2, Delimiter: "/", ...markers }),
      );
      pages++;
      expect(page.DeleteMarkers).toBeUndefined();
      for (const version of page.Versions ?? []) seen.push([version.Key!, version.VersionId, version.IsLatest]);
      prefixes.push(...(page.CommonPrefixes ?? []).map((p) => p.Prefix!));
      if (!page.IsTruncated) break;
      markers = { KeyMarker: page.NextKeyMarker, VersionIdMarker: page.NextVersionIdMarker };
    }
    expect(seen).toEqual([
      ["a", "null", true],
      ["b", "null", true],
      ["e", "null", true],
    ]);
    expect(prefixes).toEqual(["dir/"]);
    expect(pages).toBe(2);
  });

  it("DeleteObjects / DeleteObject by version id null: empty an unversioned bucket so it can be deleted, as bucket-destroying tools do", async () => {
    await s3.send(new CreateBucketCommand({ Bucket: "versions-2" }));
    for (const key of ["x", "y/z", "w"])
      await s3.send(new PutObjectCommand({ Bucket: "versions-2", Key: key, Body: key }));
    const { Versions } = await s3.send(new ListObjectVersionsCommand({ Bucket: "versions-2" }));
    const deleted = await s3.send(
      new DeleteObjectsCommand({
        Bucket: "versions-2",
        Delete: { Objects: Versions!.slice(0, 2).map(({ Key, VersionId }) => ({ Key, VersionId })) },
      }),
    );
    expect(deleted.Deleted?.map((d) => [d.Key, d.VersionId])).toEqual([
      ["w", "null"],
      ["x", "null"],
    ]);
    const one = await s3.send(new DeleteObjectCommand({ Bucket: "versions-2", Key: "y/z", VersionId: "null" }));
    expect(one.VersionId).toBe("null");
    expect((await s3.send(new ListObjectVersionsCommand({ Bucket: "versions-2" }))).Versions).toBeUndefined();
    await s3.send(new DeleteBucketCommand({ Bucket: "versions-2" }));
  });

  it("GetObject / DeleteObject(s): version id null is the object; any other id is InvalidArgument and deletes nothing", async () => {
    await s3.send(new PutObjectCommand({ Bucket: "uploads", Key: "versions/kept", Body: "v" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "versions/kept", VersionId: "null" }));
    expect(got.VersionId).toBe("null");
    expect(await got.Body?.transformToString()).toBe("v");
    const plain = await s3.send(new HeadObjectCommand({ Bucket: "uploads", Key: "versions/kept" }));
    expect(plain.VersionId).toBeUndefined();
    expect(
      await failure(s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "versions/kept", VersionId: "3HL4kqtJ" }))),
    ).toMatchObject({ code: "InvalidArgument", status: 400 });
    expect(
      await failure(
        s3.send(new DeleteObjectCommand({ Bucket: "uploads", Key: "versions/kept", VersionId: "3HL4kqtJ" })),
      ),
    ).toMatchObject({ code: "InvalidArgument", status: 400 });
    const batch = await s3.send(
      new DeleteObjectsCommand({
        Bucket: "uploads",
        Delete: { Objects: [{ Key: "versions/kept", VersionId: "3HL4kqtJ" }] },
      }),
    );
    expect(batch.Errors?.map((e) => [e.Key, e.VersionId, e.Code])).toEqual([
      ["versions/kept", "3HL4kqtJ", "NoSuchVersion"],
    ]);
    expect(await emu.bucket("uploads").head("versions/kept")).not.toBeNull();
  });

  it("PutBucketVersioning: refused with NotImplemented saying why, logged as one line without a stack", async () => {
    const error = await failure(
      s3.send(new PutBucketVersioningCommand({ Bucket: "uploads", VersioningConfiguration: { Status: "Enabled" } })),
    );
    expect(error).toMatchObject({ code: "NotImplemented", status: 501 });
    expect(error.message).toMatch(/unversioned/);
    const lines = emu.logs.filter((entry) => entry.message.includes("PUT /uploads?versioning"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: "warn" });
    expect(lines[0]!.message).toMatch(/refused: NotImplemented: /);
    expect(lines[0]!.message).not.toMatch(/\n\s+at /);
  });
});

describe("S3 endpoint: listing with encoding-type=url", () => {
  const keys = ["enc/a b+c", "enc/dir one/x", "enc/tilde~star*(x)!'", "enc/ü€😀", "enc/z=&?#%"];
  beforeAll(async () => {
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: "archive", Key: key, Body: key }));
  });

  // As S3 encodes: A-Za-z0-9, "-_.*" and "/" kept, a space as "+", every other UTF-8 byte as %XX.
  const encoded = {
    "enc/a b+c": "enc/a+b%2Bc",
    "enc/dir one/": "enc/dir+one/",
    "enc/tilde~star*(x)!'": "enc/tilde%7Estar*%28x%29%21%27",
    "enc/ü€😀": "enc/%C3%BC%E2%82%AC%F0%9F%98%80",
    "enc/z=&?#%": "enc/z%3D%26%3F%23%25",
  };

  it("ListObjectsV2: keys, prefixes, the prefix, delimiter and start-after come back encoded", async () => {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: "archive",
        Prefix: "enc/",
        Delimiter: "/",
        StartAfter: "enc/a b+c",
        EncodingType: "url",
      }),
    );
    // "/" is kept as it is, in the delimiter too.
    expect(page).toMatchObject({
      EncodingType: "url",
      Prefix: "enc/",
      Delimiter: "/",
      StartAfter: encoded["enc/a b+c"],
    });
    expect(page.CommonPrefixes?.map((p) => p.Prefix)).toEqual([encoded["enc/dir one/"]]);
    expect(page.Contents?.map((o) => o.Key)).toEqual([
      encoded["enc/tilde~star*(x)!'"],
      encoded["enc/z=&?#%"],
      encoded["enc/ü€😀"],
    ]);
    const spaced = await s3.send(
      new ListObjectsV2Command({ Bucket: "archive", Prefix: "enc/a b", EncodingType: "url" }),
    );
    expect(spaced.Prefix).toBe("enc/a+b");
    const plus = await s3.send(
      new ListObjectsV2Command({ Bucket: "archive", Prefix: "enc/a", Delimiter: "+", EncodingType: "url" }),
    );
    expect(plus).toMatchObject({ Delimiter: "%2B", CommonPrefixes: [{ Prefix: "enc/a+b%2B" }] });
    // Decoded as a form (botocore's unquote_plus), each key is the one stored.
    const decode = (text: string) => decodeURIComponent(text.replaceAll("+", " "));
    expect(page.Contents?.map((o) => decode(o.Key!))).toEqual(["enc/tilde~star*(x)!'", "enc/z=&?#%", "enc/ü€😀"]);
  });

  it("ListObjects (V1): keys, prefixes, marker and NextMarker come back encoded", async () => {
    const first = await s3.send(
      new ListObjectsCommand({
        Bucket: "archive",
        Prefix: "enc/",
        Marker: "enc/a b+c",
        MaxKeys: 1,
        EncodingType: "url",
      }),
    );
    expect(first).toMatchObject({ EncodingType: "url", Marker: encoded["enc/a b+c"], IsTruncated: true });
    expect(first.Contents?.map((o) => o.Key)).toEqual([encoded["enc/dir one/"].replace(/\/$/, "/x")]);
    expect(first.NextMarker).toBe("enc/dir+one/x");
    const grouped = await s3.send(
      new ListObjectsCommand({ Bucket: "archive", Prefix: "enc/", Delimiter: "/", MaxKeys: 2, EncodingType: "url" }),
    );
    expect(grouped.Contents?.map((o) => o.Key)).toEqual([encoded["enc/a b+c"]]);
    expect(grouped.CommonPrefixes?.map((p) => p.Prefix)).toEqual([encoded["enc/dir one/"]]);
    expect(grouped.NextMarker).toBe(encoded["enc/dir one/"]);
  });

  it("ListObjectsV2: an encoding-type other than url is InvalidArgument", async () => {
    expect(
      await failure(s3.send(new ListObjectsV2Command({ Bucket: "archive", EncodingType: "base64" as "url" }))),
    ).toMatchObject({ code: "InvalidArgument", status: 400 });
  });

  it("ListObjectsV2: an empty continuation token starts the listing over, as S3 takes it, and is echoed", async () => {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: "archive", Prefix: "enc/", ContinuationToken: "", StartAfter: "enc/e" }),
    );
    expect(page.ContinuationToken).toBe("");
    expect(page.Contents?.map((o) => o.Key)).toEqual(["enc/tilde~star*(x)!'", "enc/z=&?#%", "enc/ü€😀"]);
  });
});

describe("S3 endpoint: user metadata that is not ASCII", () => {
  it("PutObject / GetObject: a value the SDK sends as UTF-8 verifies, is stored as its text, and comes back RFC 2047-encoded, as S3 does", async () => {
    // The SDK sends characters up to U+00FF as their UTF-8 bytes (it refuses any above, before sending).
    const text = "café naïve, Zürich";
    await s3.send(
      new PutObjectCommand({
        Bucket: "uploads",
        Key: "meta/utf8",
        Body: "x",
        Metadata: { title: text, plain: "ascii" },
      }),
    );
    expect((await emu.bucket("uploads").head("meta/utf8"))?.metadata).toEqual({ title: text, plain: "ascii" });
    const encoded = `=?UTF-8?B?${Buffer.from(text).toString("base64")}?=`;
    const got = await s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "meta/utf8" }));
    expect(got.Metadata).toEqual({ title: encoded, plain: "ascii" });
    const head = await s3.send(new HeadObjectCommand({ Bucket: "uploads", Key: "meta/utf8" }));
    expect(head.Metadata).toEqual({ title: encoded, plain: "ascii" });
  });

  /** A client that sends metadata as UTF-8 bytes on every request, as Go's, Rust's and curl's do. */
  function utf8Client(): S3Client {
    const utf8 = client();
    type Middleware = Parameters<typeof utf8.middlewareStack.addRelativeTo>[0];
    const sendUtf8 = ((next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
      const { headers } = (args as { request: { headers: Record<string, string> } }).request;
      // Node writes a header value of a request without a body one byte per character.
      for (const [name, value] of Object.entries(headers)) {
        if (name.startsWith("x-amz-meta-")) headers[name] = Buffer.from(value, "utf8").toString("latin1");
      }
      return next(args);
    }) as unknown as Middleware;
    utf8.middlewareStack.addRelativeTo(sendUtf8, {
      relation: "after",
      toMiddleware: "httpSigningMiddleware",
      name: "utf8Metadata",
    });
    return utf8;
  }

  it("CopyObject / CreateMultipartUpload: metadata sent as UTF-8 is stored as its text", async () => {
    const utf8 = utf8Client();
    await utf8.send(
      new CopyObjectCommand({
        Bucket: "uploads",
        Key: "meta/copied",
        CopySource: "uploads/meta/utf8",
        MetadataDirective: "REPLACE",
        Metadata: { title: "naïve ☕ 中文" },
      }),
    );
    expect((await emu.bucket("uploads").head("meta/copied"))?.metadata).toEqual({ title: "naïve ☕ 中文" });
    const { UploadId } = await utf8.send(
      new CreateMultipartUploadCommand({ Bucket: "uploads", Key: "meta/mp", Metadata: { title: "ünï" } }),
    );
    utf8.destroy();
    const { ETag } = await s3.send(
      new UploadPartCommand({ Bucket: "uploads", Key: "meta/mp", UploadId, PartNumber: 1, Body: "p" }),
    );
    await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: "uploads",
        Key: "meta/mp",
        UploadId,
        MultipartUpload: { Parts: [{ ETag, PartNumber: 1 }] },
      }),
    );
    expect((await emu.bucket("uploads").head("meta/mp"))?.metadata).toEqual({ title: "ünï" });
  });

  it("CopyObject: a value sent as other bytes than were signed is SignatureDoesNotMatch, as on S3", async () => {
    // The SDK signs "é" as UTF-8; Node sends it, on a request without a body, as one latin1 byte.
    expect(
      await failure(
        s3.send(
          new CopyObjectCommand({
            Bucket: "uploads",
            Key: "meta/latin1",
            CopySource: "uploads/meta/utf8",
            MetadataDirective: "REPLACE",
            Metadata: { title: "é" },
          }),
        ),
      ),
    ).toMatchObject({ code: "SignatureDoesNotMatch", status: 403 });
    expect(await emu.bucket("uploads").head("meta/latin1")).toBeNull();
  });
});

describe("S3 endpoint: multipart objects by part, and retried completion", () => {
  const mib5 = 5 * 1024 * 1024;

  async function multipart(key: string, bodies: Uint8Array[]) {
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: "uploads", Key: key }));
    const Parts = [];
    for (const [i, Body] of bodies.entries()) {
      const { ETag } = await s3.send(
        new UploadPartCommand({ Bucket: "uploads", Key: key, UploadId, PartNumber: i + 1, Body }),
      );
      Parts.push({ ETag, PartNumber: i + 1 });
    }
    return { UploadId, Parts };
  }

  it("GetObject / HeadObject with partNumber: one part's bytes, 206, Content-Range and PartsCount; a part past the last is InvalidPartNumber", async () => {
    const bodies = [new Uint8Array(mib5).fill(7), new Uint8Array(mib5).fill(8), new Uint8Array(3).fill(9)];
    const { UploadId, Parts } = await multipart("mp/by-part", bodies);
    const done = await s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: "uploads",
        Key: "mp/by-part",
        UploadId,
        MultipartUpload: { Parts },
      }),
    );
    const total = 2 * mib5 + 3;
    const second = await s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "mp/by-part", PartNumber: 2 }));
    expect(second.$metadata.httpStatusCode).toBe(206);
    expect(second).toMatchObject({
      PartsCount: 3,
      ContentLength: mib5,
      ContentRange: `bytes ${mib5}-${2 * mib5 - 1}/${total}`,
      ETag: done.ETag,
    });
    const bytes = await second.Body!.transformToByteArray();
    expect(bytes.byteLength).toBe(mib5);
    expect(bytes.every((b) => b === 8)).toBe(true);

    const last = await s3.send(new HeadObjectCommand({ Bucket: "uploads", Key: "mp/by-part", PartNumber: 3 }));
    expect(last).toMatchObject({
      PartsCount: 3,
      ContentLength: 3,
      ContentRange: `bytes ${2 * mib5}-${total - 1}/${total}`,
    });
    const whole = await s3.send(new HeadObjectCommand({ Bucket: "uploads", Key: "mp/by-part" }));
    expect(whole.PartsCount).toBeUndefined();

    expect(
      await failure(s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "mp/by-part", PartNumber: 4 }))),
    ).toMatchObject({ code: "InvalidPartNumber", status: 416 });
    expect(
      await failure(
        s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "mp/by-part", PartNumber: 1, Range: "bytes=0-1" })),
      ),
    ).toMatchObject({ code: "InvalidRequest", status: 400 });
  });

  it("GetObject with partNumber: part 1 of an object uploaded whole is all of it, without PartsCount; part 2 is InvalidPartNumber", async () => {
    await s3.send(new PutObjectCommand({ Bucket: "uploads", Key: "mp/whole", Body: "0123456789" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: "uploads", Key: "mp/whole", PartNumber: 1 }));
    expect(got).toMatchObject({ ContentLength: 10, ContentRange: "bytes 0-9/10" });
    expect(got.PartsCount).toBeUndefined();
    expect(await got.Body?.transformToString()).toBe("0123456789");
    expect(
      await failure(s3.send(new HeadObjectCommand({ Bucket: "uploads", Key: "mp/whole", PartNumber: 2 }))),
    ).toMatchObject({ status: 416 });
  });

  it("CompleteMultipartUpload: sent again after it succeeded, it answers the same result, as S3 does; other parts are NoSuchUpload", async () => {
    const { UploadId, Parts } = await multipart("mp/retried", [new Uint8Array(100).fill(1)]);
    const complete = (parts: typeof Parts) =>
      s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: "uploads",
          Key: "mp/retried",
          UploadId,
          MultipartUpload: { Parts: parts },
        }),
      );
    const first = await complete(Parts);
    const again = await complete(Parts);
    expect(again).toMatchObject({ Bucket: "uploads", Key: "mp/retried", ETag: first.ETag, Location: first.Location });
    expect(await failure(complete([{ ETag: '"0000"', PartNumber: 1 }]))).toMatchObject({
      code: "NoSuchUpload",
      status: 404,
    });
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket: "uploads", Prefix: "mp/retried" }));
    expect(uploads.Uploads).toBeUndefined();
    expect(
      await failure(s3.send(new AbortMultipartUploadCommand({ Bucket: "uploads", Key: "mp/retried", UploadId }))),
    ).toMatchObject({ code: "NoSuchUpload", status: 404 });
  });
});

describe("S3 endpoint: callers without valid credentials", () => {
  /** A PUT with `Expect: 100-continue` whose body is sent only on 100 Continue; what the server said first. */
  function putExpectingContinue(url: string, headers: Record<string, string>, body: string) {
    return new Promise<{ continued: boolean; status: number; text: string }>((resolve, reject) => {
      let continued = false;
      const request = httpRequest(url, {
        method: "PUT",
        headers: { ...headers, expect: "100-continue", "content-length": String(Buffer.byteLength(body)) },
      });
      request.on("continue", () => {
        continued = true;
        request.end(body);
      });
      request.on("response", (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("end", () =>
          resolve({ continued, status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
        );
      });
      request.on("error", reject);
      request.flushHeaders();
    });
  }

  it("Expect: 100-continue: bad credentials get their error instead of 100 Continue; good ones get 100 and store the body", async () => {
    const amzDate = new Date().toISOString().replace(/[-:]|\.\d{3}/g, "");
    const refused = await putExpectingContinue(
      `${emu.s3.endpoint}/uploads/continue/denied`,
      {
        "x-amz-date": amzDate,
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        authorization: `AWS4-HMAC-SHA256 Credential=AKIAUNKNOWNUNKNOWN00/${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${"0".repeat(64)}`,
      },
      "never sent",
    );
    expect(refused).toMatchObject({ continued: false, status: 403 });
    expect(refused.text).toMatch(/<Code>InvalidAccessKeyId<\/Code>/);
    expect(await emu.bucket("uploads").head("continue/denied")).toBeNull();

    const url = await getSignedUrl(s3, new PutObjectCommand({ Bucket: "uploads", Key: "continue/allowed" }), {
      expiresIn: 300,
      signingDate: new Date(emu.clock.now()),
    });
    const allowed = await putExpectingContinue(url, {}, "sent after 100");
    expect(allowed).toMatchObject({ continued: true, status: 200 });
    expect(await (await emu.bucket("uploads").get("continue/allowed"))?.text()).toBe("sent after 100");
  });

  it("anonymous: a missing bucket is NoSuchBucket; in an existing bucket every key, present or not, is AccessDenied, as S3 answers an anonymous caller", async () => {
    const missingBucket = await fetch(`${emu.s3.endpoint}/no-such-bucket-9/k`);
    expect(missingBucket.status).toBe(404);
    expect(await missingBucket.text()).toMatch(/<Code>NoSuchBucket<\/Code>/);
    const missingKey = await fetch(`${emu.s3.endpoint}/uploads/no/such/key`);
    expect(missingKey.status).toBe(403);
    expect(await missingKey.text()).toMatch(/<Code>AccessDenied<\/Code>/);
    expect((await fetch(`${emu.s3.endpoint}/uploads/no/such/key`, { method: "HEAD" })).status).toBe(403);
    expect((await fetch(`${emu.s3.endpoint}/`)).status).toBe(403);
    const lines = emu.logs.filter((entry) => entry.message.includes("GET /uploads/no/such/key refused: AccessDenied"));
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((line) => line.level === "warn" && !line.message.includes("\n"))).toBe(true);
  });
});
