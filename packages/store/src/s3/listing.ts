import { bucketLimits } from "@nimbus/core";
import type { BucketEntry } from "../registry.ts";
import type { ListResult } from "../store.ts";
import { intParam, type S3Request, type S3Response, urlEncodeKey } from "./request.ts";
import { xmlDocument } from "./xml.ts";

const owner = { ID: "nimbus", DisplayName: "nimbus" };

/** GET /bucket?list-type=2 */
export function listObjectsV2(request: S3Request, bucket: BucketEntry): S3Response {
  const { query } = request;
  const prefix = query.get("prefix") ?? "";
  const delimiter = query.get("delimiter") ?? "";
  const maxKeys = intParam(query, "max-keys", bucketLimits.maxListKeys, 0, bucketLimits.maxListKeys);
  const token = query.get("continuation-token") ?? undefined;
  const startAfter = query.get("start-after") ?? undefined;
  const url = query.get("encoding-type") === "url";
  const encode = url ? urlEncodeKey : (text: string) => text;
  const page = listPage(bucket, {
    prefix,
    delimiter,
    limit: maxKeys,
    cursor: token,
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
  const url = query.get("encoding-type") === "url";
  const encode = url ? urlEncodeKey : (text: string) => text;
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
