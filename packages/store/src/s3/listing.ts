import { bucketLimits } from "@nimbus/core";
import type { BucketEntry } from "../registry.ts";
import type { ListResult } from "../store.ts";
import { intParam, keyEncoding, type S3Request, type S3Response } from "./request.ts";
import { S3Error } from "./s3-error.ts";
import { xmlDocument } from "./xml.ts";

const owner = { ID: "nimbus", DisplayName: "nimbus" };

/** GET /bucket?list-type=2 */
export function listObjectsV2(request: S3Request, bucket: BucketEntry): S3Response {
  const { query } = request;
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const maxKeys = intParam(query, "max-keys", bucketLimits.maxListKeys, 0, bucketLimits.maxListKeys);
  // An empty token is no token, as S3 takes it: the listing starts over (and honours
  // start-after), and the empty token is echoed.
  const token = query.get("continuation-token") ?? undefined;
  const startAfter = query.get("start-after") ?? undefined;
  const { url, encode } = keyEncoding(query);
  const page = listPage(bucket, {
    prefix,
    delimiter,
    limit: maxKeys,
    cursor: token || undefined,
    startAfter: token ? undefined : startAfter,
  });
  return {
    status: 200,
    body: xmlDocument("ListBucketResult", {
      Name: bucket.name,
      Prefix: encode(prefix),
      Delimiter: delimiter ? encode(delimiter) : undefined,
      MaxKeys: maxKeys,
      KeyCount: page.objects.length + page.prefixes.length,
      IsTruncated: page.truncated,
      ContinuationToken: token,
      NextContinuationToken: page.truncated ? page.cursor : undefined,
      StartAfter: startAfter === undefined ? undefined : encode(startAfter),
      EncodingType: url ? "url" : undefined,
      Contents: contents(page, encode, query.get("fetch-owner") === "true"),
      CommonPrefixes: page.prefixes.map((p) => ({ Prefix: encode(p) })),
    }),
  };
}

/** GET /bucket (version 1, with marker). */
export function listObjectsV1(request: S3Request, bucket: BucketEntry): S3Response {
  const { query } = request;
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const maxKeys = intParam(query, "max-keys", bucketLimits.maxListKeys, 0, bucketLimits.maxListKeys);
  const marker = query.get("marker") ?? "";
  const { url, encode } = keyEncoding(query);
  const page = listPage(bucket, { prefix, delimiter, limit: maxKeys, startAfter: marker || undefined });
  const lastObject = page.objects.at(-1)?.key;
  const lastPrefix = page.prefixes.at(-1);
  const next = [lastObject, lastPrefix]
    .filter((v): v is string => v !== undefined)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .at(-1);
  return {
    status: 200,
    body: xmlDocument("ListBucketResult", {
      Name: bucket.name,
      Prefix: encode(prefix),
      Marker: encode(marker),
      Delimiter: delimiter ? encode(delimiter) : undefined,
      MaxKeys: maxKeys,
      IsTruncated: page.truncated,
      NextMarker: page.truncated && next !== undefined ? encode(next) : undefined,
      EncodingType: url ? "url" : undefined,
      Contents: contents(page, encode, true),
      CommonPrefixes: page.prefixes.map((p) => ({ Prefix: encode(p) })),
    }),
  };
}

/**
 * GET /bucket?versions: the bucket is unversioned, so each object is its one version,
 * with id `null`, the latest, and there are no delete markers, as S3 lists a bucket that
 * was never versioned.
 */
export function listObjectVersions(request: S3Request, bucket: BucketEntry): S3Response {
  const { query } = request;
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const maxKeys = intParam(query, "max-keys", bucketLimits.maxListKeys, 0, bucketLimits.maxListKeys);
  const keyMarker = query.get("key-marker") ?? "";
  const versionMarker = query.get("version-id-marker") ?? "";
  if (versionMarker !== "" && keyMarker === "") {
    throw new S3Error("InvalidArgument", 400, "A version-id marker cannot be specified without a key marker.", {
      ArgumentName: "version-id-marker",
      ArgumentValue: versionMarker,
    });
  }
  if (versionMarker !== "" && versionMarker !== "null") throw invalidVersionId(versionMarker);
  const { url, encode } = keyEncoding(query);
  // The one version of the marker's key is "null", so what follows the marker is what
  // follows its key, with or without a version-id marker.
  const page = listPage(bucket, { prefix, delimiter, limit: maxKeys, startAfter: keyMarker || undefined });
  const lastObject = page.objects.at(-1)?.key;
  const lastPrefix = page.prefixes.at(-1);
  const next = [lastObject, lastPrefix]
    .filter((v): v is string => v !== undefined)
    .sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)))
    .at(-1);
  return {
    status: 200,
    body: xmlDocument("ListVersionsResult", {
      Name: bucket.name,
      Prefix: encode(prefix),
      KeyMarker: encode(keyMarker),
      VersionIdMarker: versionMarker,
      NextKeyMarker: page.truncated && next !== undefined ? encode(next) : undefined,
      NextVersionIdMarker: page.truncated && next !== undefined && next === lastObject ? "null" : undefined,
      MaxKeys: maxKeys,
      Delimiter: delimiter ? encode(delimiter) : undefined,
      IsTruncated: page.truncated,
      EncodingType: url ? "url" : undefined,
      Version: page.objects.map((object) => ({
        Key: encode(object.key),
        VersionId: "null",
        IsLatest: true,
        LastModified: new Date(object.uploaded),
        ETag: `"${object.etag}"`,
        Size: object.size,
        Owner: owner,
        StorageClass: "STANDARD",
      })),
      CommonPrefixes: page.prefixes.map((p) => ({ Prefix: encode(p) })),
    }),
  };
}

/** A version id other than `null`, which no object of an unversioned bucket has. */
export function invalidVersionId(versionId: string): S3Error {
  return new S3Error("InvalidArgument", 400, "Invalid version id specified", {
    ArgumentName: "versionId",
    ArgumentValue: versionId,
  });
}

function listPage(
  bucket: BucketEntry,
  options: { prefix: string; delimiter: string; limit: number; cursor?: string; startAfter?: string },
): ListResult {
  // max-keys=0 asks for nothing, and gets nothing.
  if (options.limit === 0) return { objects: [], prefixes: [], truncated: false };
  return bucket.store.list(options);
}

function contents(page: ListResult, encode: (text: string) => string, withOwner: boolean) {
  return page.objects.map((object) => ({
    Key: encode(object.key),
    LastModified: new Date(object.uploaded),
    ETag: `"${object.etag}"`,
    Size: object.size,
    Owner: withOwner ? owner : undefined,
    StorageClass: "STANDARD",
  }));
}
