import { AsyncLocalStorage } from "node:async_hooks";
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  type HeadObjectCommandOutput,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { type Chain, formatChain, NimbusError } from "@nimbus/core";
import {
  type BucketConditions,
  type BucketRange,
  type BucketRecord,
  type BucketTransport,
  rangePastEnd,
} from "../bucket.ts";
import { bucketError, showKey } from "../bucket-error.ts";
import { presignS3Url } from "../presign.ts";
import { checkConditions, etagHeader, unquoteEtag } from "./s3-conditions.ts";
import { type S3Place, s3Failure, storeError } from "./s3-errors.ts";

export interface S3TransportOptions {
  /** The store's S3 endpoint, reached path-style. @example "http://store:9000" */
  endpoint: string;
  /** The region in the signatures. @example "us-east-1" */
  region: string;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** The bucket's physical name in the store. @example "shop-uploads-3f9a1c" */
  bucket: string;
  /** The bucket's name in the app, used in error messages. @default `bucket` */
  name?: string;
  /**
   * The endpoint presigned URLs point at, when whoever uses them reaches the store by
   * another address than this process does. @default `endpoint`
   * @example "https://files.example.com"
   */
  presignEndpoint?: string;
  /**
   * How `put` honours `onlyIf`. `"store"`: as S3 conditional writes (`If-Match`,
   * `If-None-Match`), which the store checks atomically with the write; AWS S3, MinIO,
   * Cloudflare R2 and the Nimbus store enforce them. A store that ignores those headers
   * (s3rver, for one) writes unconditionally. `"check-first"`: for such stores, a HEAD
   * before the write checks the conditions; a write by someone else between the two is
   * not seen.
   * @default "store"
   */
  conditionalWrites?: "store" | "check-first";
  /**
   * Bytes per part when a stream is uploaded in parts; at most two parts are held in
   * memory at a time. At least 5 MiB, S3's smallest part. @default 8 MiB
   */
  partSize?: number;
}

/** The S3 transport, with a way to close the client's pooled connections. */
export interface S3BucketTransport extends BucketTransport {
  /** Closes the connections kept open to the store; the transport is unusable after. */
  destroy(): void;
}

const maxListKeys = 1000;
const defaultContentType = "application/octet-stream";

/**
 * A bucket's storage on any S3-compatible store, through `@aws-sdk/client-s3`: the
 * deployed host's transport for `bucketClient`. Bodies stream both ways; a stream is
 * uploaded in parts when it is larger than one part. Conditions on reads are sent as
 * `If-*` headers and checked again against the object served, so a store that ignores
 * one still never hands back an object the caller excluded.
 */
export function s3Transport(options: S3TransportOptions): S3BucketTransport {
  const { bucket, region, credentials } = options;
  const place: S3Place = { name: options.name ?? bucket, bucket, endpoint: options.endpoint };
  const mode = options.conditionalWrites ?? "store";
  const partSize = options.partSize ?? 8 * 1024 * 1024;
  const client = new S3Client({
    endpoint: options.endpoint,
    region,
    credentials,
    forcePathStyle: true,
    // Checksums only where S3 demands one: the CRC headers the SDK adds by default are
    // refused or mishandled by several S3-compatible stores.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
  // The chain of the invocation writing (docs/semantics.md "Recursive loops"), as the
  // `x-nimbus-chain` header of every request the write makes, multipart ones included.
  // Added before signing, so it is signed: the Nimbus store records it with the change
  // it notifies. Any other S3 store ignores it.
  const writing = new AsyncLocalStorage<Chain>();
  client.middlewareStack.add(
    (next) => async (args) => {
      const chain = writing.getStore();
      const request = args.request as { headers?: Record<string, string> };
      if (chain && request.headers) request.headers["x-nimbus-chain"] = formatChain(chain);
      return next(args);
    },
    { step: "build", name: "nimbusChain" },
  );
  const within = <T>(chain: Chain | undefined, write: () => Promise<T>): Promise<T> =>
    chain ? writing.run(chain, write) : write();
  const fail = (operation: string, key: string | undefined, error: unknown): NimbusError =>
    NimbusError.is(error) ? error : storeError(place, operation, key, error);
  const preconditionFailed = (key: string, current: BucketRecord | null | undefined): NimbusError =>
    bucketError(
      "NIMBUS_BUCKET_PRECONDITION",
      place.name,
      key,
      current
        ? `a condition failed against the stored object (ETag ${current.etag}, stored ${new Date(current.uploaded).toISOString()}); nothing was written`
        : "a condition failed because no object exists; nothing was written",
    );

  const head = async (key: string): Promise<BucketRecord | null> => {
    try {
      return recordOf(key, await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key })));
    } catch (error) {
      if (s3Failure(error)?.status === 404) return null;
      throw fail("HeadObject", key, error);
    }
  };

  /** One GET; `null` for a missing object or a failed condition. */
  const getOnce = async (key: string, range: BucketRange | undefined, onlyIf: BucketConditions | undefined) => {
    let output: GetObjectCommandOutput;
    try {
      output = await client.send(
        new GetObjectCommand({
          Bucket: bucket,
          Key: key,
          Range: range && rangeHeader(range),
          IfMatch: onlyIf?.etagMatches === undefined ? undefined : etagHeader(onlyIf.etagMatches),
          IfNoneMatch: onlyIf?.etagDoesNotMatch === undefined ? undefined : etagHeader(onlyIf.etagDoesNotMatch),
          IfModifiedSince: onlyIf?.uploadedAfter,
          IfUnmodifiedSince: onlyIf?.uploadedBefore,
        }),
      );
    } catch (error) {
      const failure = s3Failure(error);
      // 304 and 412 are failed conditions; S3 answers If-Match on a missing key with 404.
      if (failure?.status === 304 || failure?.status === 412) return null;
      if (failure?.status === 404 && failure.code !== "NoSuchBucket") return null;
      if ((failure?.code === "InvalidRange" || failure?.status === 416) && range && "offset" in range) {
        // The answer does not say the size, which the message names, as every target's does.
        const current = await head(key);
        if (!current || checkConditions(current, onlyIf) !== "ok") return null;
        // An empty object served from offset 0 is empty, as every target serves it.
        if (current.size === 0 && range.offset === 0) {
          return {
            record: current,
            body: emptyStream() as ReadableStream<Uint8Array>,
            range: { offset: 0, length: 0 },
          };
        }
        throw rangePastEnd(place.name, key, range.offset, current.size, error);
      }
      throw fail("GetObject", key, error);
    }
    const served = contentRange(output.ContentRange);
    const record = recordOf(key, output, served?.size);
    const body = output.Body?.transformToWebStream() ?? emptyStream();
    if (checkConditions(record, onlyIf) !== "ok") {
      await body.cancel();
      return null;
    }
    return {
      record,
      body: body as ReadableStream<Uint8Array>,
      range: served ? { offset: served.offset, length: served.length } : { offset: 0, length: record.size },
    };
  };

  return {
    async get(key, { range, onlyIf }) {
      // S3 cannot ask for zero bytes: ask for one, and serve none of it.
      const empty = range && "offset" in range && range.length === 0;
      const asked = empty ? { offset: range.offset, length: 1 } : range;
      const result = await getOnce(key, asked, onlyIf);
      if (!result || !range) return result;
      if (empty) {
        await result.body.cancel();
        return { ...result, body: new Uint8Array(), range: { offset: range.offset, length: 0 } };
      }
      if ("suffix" in range) {
        const offset = Math.max(0, result.record.size - range.suffix);
        if (result.range.offset !== offset) {
          // A store that reads `bytes=-n` as `bytes=0-n` (s3rver does): ask again for the
          // last bytes by offset, of the same object.
          await result.body.cancel();
          const again = await getOnce(key, { offset }, { ...onlyIf, etagMatches: result.record.etag });
          if (!again) {
            throw new NimbusError(
              "NIMBUS_BUCKET_STORE",
              `bucket "${place.name}", key ${showKey(key)}: the object changed while its last ${range.suffix} bytes were read from store bucket "${bucket}" at ${place.endpoint}, which does not serve suffix ranges. Read it again.`,
            );
          }
          return again;
        }
      }
      return result;
    },

    async put(key, body, { contentType, metadata, onlyIf, chain }) {
      const guard = await writeGuard(key, onlyIf);
      const params = {
        Bucket: bucket,
        Key: key,
        ContentType: contentType ?? defaultContentType,
        Metadata: encodeMetadata(metadata ?? {}),
        ...guard,
      };
      let etag: string | undefined;
      let size: number;
      try {
        if (body instanceof Uint8Array) {
          const output = await within(chain, () =>
            client.send(new PutObjectCommand({ ...params, Body: body, ContentLength: body.byteLength })),
          );
          etag = output.ETag;
          size = body.byteLength;
        } else {
          // The size is unknown until the stream ends: Upload sends one PUT when it fits
          // in a part and a multipart upload otherwise, holding at most two parts.
          let counted = 0;
          const counting = new TransformStream<Uint8Array, Uint8Array>({
            transform(chunk, controller) {
              counted += chunk.byteLength;
              controller.enqueue(chunk);
            },
          });
          const upload = new Upload({
            client,
            params: { ...params, Body: body.pipeThrough(counting) },
            partSize,
            queueSize: 2,
            leavePartsOnError: false,
          });
          const output = await within(chain, () => upload.done());
          etag = output.ETag;
          size = counted;
        }
      } catch (error) {
        const failure = s3Failure(error);
        if (
          failure &&
          (failure.status === 412 ||
            failure.code === "PreconditionFailed" ||
            failure.code === "ConditionalRequestConflict" ||
            // S3 answers If-Match on a missing key with NoSuchKey.
            (guard.IfMatch !== undefined && failure.code === "NoSuchKey"))
        ) {
          // The refusal does not say what is stored, which the message names, as every target's does.
          throw preconditionFailed(key, await head(key).catch(() => undefined));
        }
        throw fail(body instanceof Uint8Array ? "PutObject" : "upload", key, error);
      }
      // PutObject does not say when the object was stored: ask, and trust the answer
      // only if it is still our object.
      const stored = await head(key);
      if (stored && etag !== undefined && stored.etag === unquoteEtag(etag)) return stored;
      return {
        key,
        size,
        etag: etag === undefined ? "" : unquoteEtag(etag),
        contentType: params.ContentType,
        metadata: normaliseMetadata(metadata ?? {}),
        uploaded: Date.now(),
      };
    },

    head,

    async delete(keys, chain) {
      if (keys.length === 0) return;
      if (keys.length === 1) {
        try {
          await within(chain, () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key: keys[0] })));
        } catch (error) {
          if (s3Failure(error)?.code === "NoSuchKey") return;
          throw fail("DeleteObject", keys[0], error);
        }
        return;
      }
      let errors: { Key?: string; Code?: string; Message?: string }[];
      try {
        const output = await within(chain, () =>
          client.send(
            new DeleteObjectsCommand({
              Bucket: bucket,
              Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
            }),
          ),
        );
        errors = (output.Errors ?? []).filter((error) => error.Code !== "NoSuchKey");
      } catch (error) {
        throw fail("DeleteObjects", undefined, error);
      }
      if (errors.length > 0) {
        const shown = errors
          .slice(0, 5)
          .map(
            (error) =>
              `${showKey(error.Key ?? "")} (${error.Code ?? "error"}${error.Message ? `: ${error.Message}` : ""})`,
          )
          .join(", ");
        const more = errors.length > 5 ? ` and ${errors.length - 5} more` : "";
        throw new NimbusError(
          "NIMBUS_BUCKET_STORE",
          `bucket "${place.name}": DeleteObjects on store bucket "${bucket}" at ${place.endpoint} could not delete ${errors.length} of ${keys.length} keys: ${shown}${more}. The other keys were deleted; check the function's store credentials and delete the rest again.`,
        );
      }
    },

    async list(listOptions) {
      const limit = listOptions.limit ?? maxListKeys;
      if (!Number.isInteger(limit) || limit < 1 || limit > maxListKeys) {
        throw bucketError(
          "NIMBUS_BUCKET_ARGUMENT",
          place.name,
          undefined,
          `list limit must be a whole number from 1 to ${maxListKeys}; found ${limit}`,
        );
      }
      try {
        const output = await client.send(
          new ListObjectsV2Command({
            Bucket: bucket,
            Prefix: listOptions.prefix || undefined,
            Delimiter: listOptions.delimiter || undefined,
            ContinuationToken: listOptions.cursor,
            MaxKeys: limit,
          }),
        );
        const truncated = output.IsTruncated === true;
        return {
          objects: (output.Contents ?? []).map((object) => ({
            key: object.Key ?? "",
            size: object.Size ?? 0,
            etag: unquoteEtag(object.ETag ?? ""),
            uploaded: object.LastModified?.getTime() ?? 0,
          })),
          prefixes: (output.CommonPrefixes ?? []).flatMap((prefix) => (prefix.Prefix ? [prefix.Prefix] : [])),
          truncated,
          ...(truncated && output.NextContinuationToken ? { cursor: output.NextContinuationToken } : {}),
        };
      } catch (error) {
        const failure = s3Failure(error);
        if (listOptions.cursor !== undefined && failure?.status === 400) {
          throw bucketError(
            "NIMBUS_BUCKET_ARGUMENT",
            place.name,
            undefined,
            `cursor ${JSON.stringify(listOptions.cursor)} is not one this bucket's list returned (the store said ${failure.code}). Pass the cursor of the previous page as it was.`,
            error,
          );
        }
        throw fail("ListObjectsV2", undefined, error);
      }
    },

    presign(key, presignOptions) {
      return presignS3Url({
        endpoint: options.presignEndpoint ?? options.endpoint,
        bucket,
        key,
        method: presignOptions.method,
        expiresIn: presignOptions.expiresIn,
        credentials,
        region,
        now: Date.now(),
      });
    },

    destroy() {
      client.destroy();
    },
  };

  /**
   * The `If-*` headers a write carries. An ETag condition S3 understands goes as it is;
   * any other (a date, an ETag that must not match) is checked against a HEAD, and the
   * write then made conditional on the object the HEAD saw, so it stays atomic.
   */
  async function writeGuard(
    key: string,
    onlyIf: BucketConditions | undefined,
  ): Promise<{ IfMatch?: string; IfNoneMatch?: string }> {
    if (!onlyIf) return {};
    const { etagMatches, etagDoesNotMatch, uploadedBefore, uploadedAfter } = onlyIf;
    const native =
      mode === "store" &&
      uploadedBefore === undefined &&
      uploadedAfter === undefined &&
      (etagMatches === undefined || !etagMatches.includes(",")) &&
      (etagDoesNotMatch === undefined || etagDoesNotMatch.trim() === "*");
    if (native) {
      return {
        ...(etagMatches === undefined ? {} : { IfMatch: etagHeader(etagMatches) }),
        ...(etagDoesNotMatch === undefined ? {} : { IfNoneMatch: "*" }),
      };
    }
    const current = await head(key);
    if (checkConditions(current ?? undefined, onlyIf) !== "ok") throw preconditionFailed(key, current);
    if (mode === "check-first") return {};
    return current ? { IfMatch: `"${current.etag}"` } : { IfNoneMatch: "*" };
  }
}

/** A record from GetObject's or HeadObject's answer; `size` from Content-Range when a range was served. */
function recordOf(
  key: string,
  output: GetObjectCommandOutput | HeadObjectCommandOutput,
  size = output.ContentLength ?? 0,
): BucketRecord {
  return {
    key,
    size,
    etag: unquoteEtag(output.ETag ?? ""),
    contentType: output.ContentType ?? defaultContentType,
    metadata: decodeMetadata(output.Metadata ?? {}),
    uploaded: output.LastModified?.getTime() ?? 0,
  };
}

function rangeHeader(range: BucketRange): string {
  if ("suffix" in range) return `bytes=-${range.suffix}`;
  return range.length === undefined
    ? `bytes=${range.offset}-`
    : `bytes=${range.offset}-${range.offset + range.length - 1}`;
}

/** `bytes 2-5/10` as the served part and the whole object's size. */
function contentRange(header: string | undefined): { offset: number; length: number; size: number } | undefined {
  const match = header ? /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header.trim()) : null;
  if (!match) return undefined;
  const offset = Number(match[1]);
  return { offset, length: Number(match[2]) - offset + 1, size: Number(match[3]) };
}

function normaliseMetadata(metadata: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(metadata).map(([name, value]) => [name.toLowerCase(), value]));
}

/** Header values must be ASCII: other text goes RFC 2047-encoded, as S3 itself sends it back. */
function encodeMetadata(metadata: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(normaliseMetadata(metadata))) {
    out[name] = /^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value).toString("base64")}?=`;
  }
  return out;
}

function decodeMetadata(metadata: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(metadata)) {
    const encoded = /^=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=$/i.exec(value);
    out[name.toLowerCase()] = encoded ? Buffer.from(encoded[1]!, "base64").toString("utf8") : value;
  }
  return out;
}

function emptyStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.close();
    },
  });
}
