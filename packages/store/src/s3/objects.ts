import { bucketLimits, type Chain, parseChain } from "@nimbus/core";
import { checkConditions } from "../conditions.ts";
import { objectHeaders, parseRange } from "../http.ts";
import type { BucketEntry } from "../registry.ts";
import type { ObjectRecord } from "../store.ts";
import { invalidVersionId } from "./listing.ts";
import {
  conditionsFrom,
  copySourceConditions,
  metadataFrom,
  partNumber,
  readConditions,
  type S3Request,
  type S3Response,
} from "./request.ts";
import { S3Error } from "./s3-error.ts";
import { child, children, parseXml, xmlDocument } from "./xml.ts";

/** Standard headers S3 stores with an object and sends back on GET and HEAD. */
export const storedHeaders = [
  "cache-control",
  "content-disposition",
  "content-encoding",
  "content-language",
  "expires",
] as const;

/** `response-*` query parameters a signed GET may use to override headers of the answer. */
const overrides = {
  "response-content-type": "content-type",
  "response-content-language": "content-language",
  "response-expires": "expires",
  "response-cache-control": "cache-control",
  "response-content-disposition": "content-disposition",
  "response-content-encoding": "content-encoding",
} as const;

/** The stored headers a PUT (or a multipart create, or a REPLACE copy) sets. */
export function headersFrom(request: S3Request): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of storedHeaders) {
    const value = request.headers.get(name);
    // aws-chunked is how the body travelled, not how it is stored.
    const kept =
      name === "content-encoding"
        ? value
            ?.split(",")
            .map((v) => v.trim())
            .filter((v) => v && v !== "aws-chunked")
            .join(", ")
        : value;
    if (kept) headers[name] = kept;
  }
  return headers;
}

/**
 * GET and HEAD /bucket/key, whole, by `Range`, or by `partNumber` (the bytes of one part
 * of a multipart object, answered 206 with `x-amz-mp-parts-count`, as S3 does).
 */
export async function getObject(request: S3Request, bucket: BucketEntry, head: boolean): Promise<S3Response> {
  const key = request.key!;
  const version = versionHeader(request);
  const part = request.query.has("partNumber") ? partNumber(request) : undefined;
  if (part !== undefined && request.headers.has("range")) {
    throw new S3Error("InvalidRequest", 400, "Cannot specify both Range header and partNumber query parameter");
  }
  const range = head || part !== undefined ? undefined : parseRange(request.headers.get("range"));
  const onlyIf = conditionsFrom(request.headers, readConditions);
  const unsatisfiable = (error: unknown) => {
    if ((error as { code?: string }).code !== "NIMBUS_BUCKET_RANGE") return error;
    const record = bucket.store.head(key);
    if (part !== undefined) {
      throw new S3Error("InvalidPartNumber", 416, "The requested partnumber is not satisfiable", {
        PartNumberRequested: String(part),
        ActualPartCount: String(Number(/-(\d+)$/.exec(record?.etag ?? "")?.[1] ?? 1)),
      });
    }
    return new S3Error("InvalidRange", 416, "The requested range is not satisfiable", {
      RangeRequested: request.headers.get("range") ?? "",
      ActualObjectSize: String(record?.size ?? 0),
    });
  };
  if (head) {
    let found: ReturnType<typeof bucket.store.headPart>;
    try {
      found = part === undefined ? undefined : bucket.store.headPart(key, part);
    } catch (error) {
      throw unsatisfiable(error);
    }
    const record = found?.object ?? bucket.store.head(key);
    if (!record) throw new S3Error("NoSuchKey", 404, "The specified key does not exist.", { Key: key });
    // A HEAD evaluates conditions as a GET would, and never has a body.
    const outcome = checkConditions(record, onlyIf);
    if (outcome === "not-modified") return { status: 304, headers: notModifiedHeaders(record) };
    if (outcome === "precondition") return { status: 412 };
    const headers = { ...objectHeaders(record), ...version, ...overridden(request) };
    if (!found) return { status: 200, headers: { ...headers, "content-length": String(record.size) } };
    return { status: 206, headers: { ...headers, ...partHeaders(found.range, record.size, found.parts) } };
  }
  let result: Awaited<ReturnType<typeof bucket.store.get>>;
  try {
    result = await bucket.store.get(key, { range, onlyIf, part });
  } catch (error) {
    throw unsatisfiable(error);
  }
  if (result.status === "missing")
    throw new S3Error("NoSuchKey", 404, "The specified key does not exist.", { Key: key });
  if (result.status === "not-modified") return { status: 304, headers: notModifiedHeaders(result.object) };
  if (result.status !== "ok") throw preconditionFailed();
  const headers: Record<string, string> = {
    ...objectHeaders(result.object),
    ...version,
    "content-length": String(result.range.length),
    ...overridden(request),
  };
  if (part !== undefined) {
    Object.assign(headers, partHeaders(result.range, result.object.size, result.parts));
    return { status: 206, headers, body: result.body };
  }
  if (range) {
    const { offset, length } = result.range;
    headers["content-range"] = `bytes ${offset}-${offset + length - 1}/${result.object.size}`;
  }
  return { status: range ? 206 : 200, headers, body: result.body };
}

function partHeaders(
  range: { offset: number; length: number },
  size: number,
  parts: number | undefined,
): Record<string, string> {
  const { offset, length } = range;
  const headers: Record<string, string> = {
    "content-length": String(length),
    "content-range": `bytes ${offset}-${offset + length - 1}/${size}`,
  };
  // Only a multipart object counts its parts; S3 sends no count for any other.
  if (parts !== undefined) headers["x-amz-mp-parts-count"] = String(parts);
  return headers;
}

/**
 * The `versionId` of a request on an object. The bucket is unversioned, so `null` (each
 * object's one version) is the only id there is: asked for, it is echoed in
 * `x-amz-version-id`, as S3 does; any other is S3's InvalidArgument.
 */
export function versionHeader(request: S3Request): Record<string, string> {
  const versionId = request.query.get("versionId");
  if (versionId === null) return {};
  if (versionId !== "null") throw invalidVersionId(versionId);
  return { "x-amz-version-id": "null" };
}

function notModifiedHeaders(record: ObjectRecord): Record<string, string> {
  return { etag: `"${record.etag}"`, "last-modified": new Date(record.uploaded).toUTCString() };
}

function overridden(request: S3Request): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [param, header] of Object.entries(overrides)) {
    const value = request.query.get(param);
    if (value !== null) headers[header] = value;
  }
  return headers;
}

export function preconditionFailed(condition = "If-Match"): S3Error {
  return new S3Error("PreconditionFailed", 412, "At least one of the pre-conditions you specified did not hold", {
    Condition: condition,
  });
}

/**
 * The chain of the invocation whose binding makes the write (docs/semantics.md "Recursive
 * loops"): its `x-nimbus-chain` header, taken only when the signature covers it, so only
 * a holder of a key can put a change in a chain. Absent for any other client's write:
 * its change belongs to no chain.
 */
export function chainOf(request: S3Request): Chain | undefined {
  if (!request.signedHeaders?.includes(chainHeader)) return undefined;
  return parseChain(request.headers.get(chainHeader));
}

const chainHeader = "x-nimbus-chain";

export async function putObject(request: S3Request, bucket: BucketEntry): Promise<S3Response> {
  const key = request.key!;
  const contentMd5 = request.headers.get("content-md5");
  const onlyIf = conditionsFrom(request.headers, readConditions);
  if (onlyIf?.etagMatches !== undefined && !bucket.store.head(key)) {
    // S3 answers a conditional write on a missing key with NoSuchKey, not 412.
    throw new S3Error("NoSuchKey", 404, "The specified key does not exist.", { Key: key });
  }
  const record = await bucket.store.put(key, request.body, {
    contentType: request.headers.get("content-type") ?? undefined,
    metadata: metadataFrom(request.headers),
    headers: headersFrom(request),
    onlyIf,
    md5: contentMd5 === null ? undefined : md5Hex(contentMd5),
    chain: chainOf(request),
  });
  return { status: 200, headers: { etag: `"${record.etag}"`, ...(await checksumHeader(request)) } };
}

/** The verified checksum, echoed as S3 does: `x-amz-checksum-crc32: …`. */
export async function checksumHeader(request: S3Request): Promise<Record<string, string>> {
  return request.checksum ? { [request.checksum.name]: await request.checksum.verify() } : {};
}

/** Content-MD5 as hex; a value that is not base64 of 16 bytes is S3's InvalidDigest. */
export function md5Hex(header: string): string {
  const bytes = Buffer.from(header, "base64");
  if (bytes.byteLength !== 16 || bytes.toString("base64") !== header.trim()) {
    throw new S3Error("InvalidDigest", 400, "The Content-MD5 you specified was invalid.");
  }
  return bytes.toString("hex");
}

/**
 * `x-amz-copy-source`: `bucket/key` or `/bucket/key`, URL-encoded, maybe with
 * `?versionId=null` (the one version of an object in an unversioned bucket).
 */
export function copySource(request: S3Request): { bucket: string; key: string } {
  const raw = request.headers.get("x-amz-copy-source") ?? "";
  const [path = "", query = ""] = raw.split("?");
  const versionId = new URLSearchParams(query).get("versionId");
  if (versionId !== null && versionId !== "null") throw invalidVersionId(versionId);
  const trimmed = path.startsWith("/") ? path.slice(1) : path;
  const slash = trimmed.indexOf("/");
  if (slash <= 0 || slash === trimmed.length - 1) {
    throw new S3Error(
      "InvalidArgument",
      400,
      "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
      {
        ArgumentName: "x-amz-copy-source",
        ArgumentValue: raw,
      },
    );
  }
  try {
    return { bucket: decodeURIComponent(trimmed.slice(0, slash)), key: decodeURIComponent(trimmed.slice(slash + 1)) };
  } catch {
    throw new S3Error("InvalidArgument", 400, "Copy Source is not URL-encoded", {
      ArgumentName: "x-amz-copy-source",
      ArgumentValue: raw,
    });
  }
}

export async function copyObject(
  request: S3Request,
  bucket: BucketEntry,
  source: BucketEntry,
  sourceKey: string,
): Promise<S3Response> {
  const key = request.key!;
  const directive = (request.headers.get("x-amz-metadata-directive") ?? "COPY").toUpperCase();
  if (directive !== "COPY" && directive !== "REPLACE") {
    throw new S3Error("InvalidArgument", 400, "Unknown metadata directive.", {
      ArgumentName: "x-amz-metadata-directive",
      ArgumentValue: directive,
    });
  }
  if (source === bucket && sourceKey === key && directive === "COPY") {
    throw new S3Error(
      "InvalidRequest",
      400,
      "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.",
    );
  }
  const sourceIf = conditionsFrom(request.headers, copySourceConditions);
  let record: ObjectRecord;
  try {
    record = await bucket.store.copy(source.store, sourceKey, key, {
      sourceIf,
      onlyIf: conditionsFrom(request.headers, readConditions),
      replace:
        directive === "REPLACE"
          ? {
              contentType: request.headers.get("content-type") ?? undefined,
              metadata: metadataFrom(request.headers),
              headers: headersFrom(request),
            }
          : undefined,
      chain: chainOf(request),
    });
  } catch (error) {
    if ((error as { code?: string }).code === "NIMBUS_BUCKET_SOURCE_PRECONDITION")
      throw preconditionFailed("x-amz-copy-source-If-Match");
    throw error;
  }
  return {
    status: 200,
    body: xmlDocument("CopyObjectResult", { LastModified: new Date(record.uploaded), ETag: `"${record.etag}"` }),
  };
}

/** DELETE /bucket/key, also of its one version, `?versionId=null`. */
export function deleteObject(request: S3Request, bucket: BucketEntry): S3Response {
  const version = versionHeader(request);
  bucket.store.delete([request.key!], { chain: chainOf(request) });
  return { status: 204, headers: version };
}

/**
 * POST /bucket?delete: up to 1,000 keys; each is reported deleted whether or not it
 * existed, as S3 does. An object's `<VersionId>null</VersionId>` (its one version, as
 * ListObjectVersions lists it) deletes it and is echoed; any other version id is an error
 * for that key alone.
 */
export async function deleteObjects(
  bucket: BucketEntry,
  xml: string,
  /** {@link chainOf} the request. */
  chain?: Chain,
): Promise<S3Response> {
  let objects: { key: string; versionId?: string }[];
  let quiet: boolean;
  try {
    const root = parseXml(xml);
    if (root.name !== "Delete") throw new Error("expected <Delete>");
    objects = children(root, "Object").map((object) => {
      const key = child(object, "Key");
      if (!key) throw new Error("an <Object> without <Key>");
      return { key: key.text, versionId: child(object, "VersionId")?.text };
    });
    quiet = child(root, "Quiet")?.text.trim() === "true";
  } catch {
    throw malformedXml();
  }
  if (objects.length === 0 || objects.length > bucketLimits.maxDeleteKeys) throw malformedXml();
  const deleted: { Key: string; VersionId?: string }[] = [];
  const errors: { Key: string; VersionId?: string; Code: string; Message: string }[] = [];
  for (const { key, versionId } of objects) {
    if (versionId !== undefined && versionId !== "null") {
      errors.push({
        Key: key,
        VersionId: versionId,
        Code: "NoSuchVersion",
        Message: "The specified version does not exist.",
      });
      continue;
    }
    try {
      bucket.store.delete([key], { chain });
      deleted.push({ Key: key, VersionId: versionId });
    } catch (error) {
      errors.push({ Key: key, Code: "InvalidArgument", Message: (error as Error).message });
    }
  }
  return {
    status: 200,
    body: xmlDocument("DeleteResult", {
      Deleted: quiet ? undefined : deleted,
      Error: errors,
    }),
  };
}

export function malformedXml(): S3Error {
  return new S3Error(
    "MalformedXML",
    400,
    "The XML you provided was not well-formed or did not validate against our published schema",
  );
}
