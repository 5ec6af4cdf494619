import { bucketLimits } from "@nimbus/core";
import { parseRange } from "../http.ts";
import type { BucketEntry } from "../registry.ts";
import { chainOf, checksumHeader, headersFrom, malformedXml, md5Hex, preconditionFailed } from "./objects.ts";
import {
  conditionsFrom,
  copySourceConditions,
  intParam,
  keyEncoding,
  metadataFrom,
  partNumber,
  readConditions,
  type S3Request,
  type S3Response,
} from "./request.ts";
import { S3Error } from "./s3-error.ts";
import { child, children, parseXml, xmlDocument } from "./xml.ts";

/** POST /bucket/key?uploads */
export function createUpload(request: S3Request, bucket: BucketEntry): S3Response {
  const upload = bucket.store.createUpload(request.key!, {
    contentType: request.headers.get("content-type") ?? undefined,
    metadata: metadataFrom(request.headers),
    headers: headersFrom(request),
  });
  return {
    status: 200,
    body: xmlDocument("InitiateMultipartUploadResult", { Bucket: bucket.name, Key: upload.key, UploadId: upload.id }),
  };
}

function uploadOf(request: S3Request, bucket: BucketEntry) {
  const id = request.query.get("uploadId") ?? "";
  const upload = bucket.store.upload(id);
  if (!upload || upload.key !== request.key) throw noSuchUpload(id);
  return upload;
}

function noSuchUpload(id: string): S3Error {
  return new S3Error(
    "NoSuchUpload",
    404,
    "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
    { UploadId: id },
  );
}

/** PUT /bucket/key?partNumber=N&uploadId=… */
export async function uploadPart(request: S3Request, bucket: BucketEntry): Promise<S3Response> {
  const upload = uploadOf(request, bucket);
  const contentMd5 = request.headers.get("content-md5");
  const part = await bucket.store.putPart(upload.id, partNumber(request), request.body, {
    md5: contentMd5 === null ? undefined : md5Hex(contentMd5),
  });
  return { status: 200, headers: { etag: `"${part.etag}"`, ...(await checksumHeader(request)) } };
}

/** PUT /bucket/key?partNumber=N&uploadId=… with x-amz-copy-source (and maybe x-amz-copy-source-range). */
export async function uploadPartCopy(
  request: S3Request,
  bucket: BucketEntry,
  source: BucketEntry,
  sourceKey: string,
): Promise<S3Response> {
  const upload = uploadOf(request, bucket);
  const number = partNumber(request);
  const rangeHeader = request.headers.get("x-amz-copy-source-range");
  const range = rangeHeader === null ? undefined : parseRange(rangeHeader);
  if (rangeHeader !== null && (!range || !("length" in range) || range.length === undefined)) {
    throw new S3Error(
      "InvalidArgument",
      400,
      "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy",
      {
        ArgumentName: "x-amz-copy-source-range",
        ArgumentValue: rangeHeader,
      },
    );
  }
  const result = await source.store.get(sourceKey, {
    range,
    onlyIf: conditionsFrom(request.headers, copySourceConditions),
  });
  if (result.status === "missing")
    throw new S3Error("NoSuchKey", 404, "The specified key does not exist.", { Key: sourceKey });
  if (result.status !== "ok") throw preconditionFailed("x-amz-copy-source-If-Match");
  if (range && "offset" in range && range.offset + (range.length ?? 0) > result.object.size) {
    await cancel(result.body);
    throw new S3Error("InvalidRange", 416, "The requested range is not satisfiable", {
      RangeRequested: rangeHeader ?? "",
      ActualObjectSize: String(result.object.size),
    });
  }
  const part = await bucket.store.putPart(upload.id, number, result.body);
  return {
    status: 200,
    body: xmlDocument("CopyPartResult", { LastModified: new Date(part.uploaded), ETag: `"${part.etag}"` }),
  };
}

async function cancel(body: Uint8Array | ReadableStream<Uint8Array>): Promise<void> {
  if (body instanceof ReadableStream) await body.cancel();
}

/**
 * POST /bucket/key?uploadId=… with the parts to join. Sent again for an upload it already
 * completed, with the same parts (an SDK retrying after the answer was lost), it answers
 * what it answered then, as S3 does, instead of NoSuchUpload.
 */
export async function completeUpload(request: S3Request, bucket: BucketEntry, xml: string): Promise<S3Response> {
  const id = request.query.get("uploadId") ?? "";
  const upload = bucket.store.upload(id);
  if (!upload || upload.key !== request.key) {
    const done = bucket.store.completion(id);
    if (!done || done.key !== request.key || !sameParts(done.parts, completionParts(xml))) throw noSuchUpload(id);
    return completed(bucket, done.key, done.etag);
  }
  const parts = completionParts(xml);
  if (parts === undefined || parts.length === 0) throw malformedXml();
  const record = bucket.store.completeUpload(upload.id, parts, {
    onlyIf: conditionsFrom(request.headers, readConditions),
    chain: chainOf(request),
  });
  return completed(bucket, upload.key, record.etag);
}

/** The parts a CompleteMultipartUpload body lists, or undefined when it is not one. */
function completionParts(xml: string): { number: number; etag: string }[] | undefined {
  try {
    const root = parseXml(xml);
    if (root.name !== "CompleteMultipartUpload") return undefined;
    return children(root, "Part").map((part) => ({
      number: Number(child(part, "PartNumber")?.text),
      etag: child(part, "ETag")?.text ?? "",
    }));
  } catch {
    return undefined;
  }
}

function sameParts(
  done: readonly { number: number; etag: string }[],
  asked: readonly { number: number; etag: string }[] | undefined,
): boolean {
  const unquote = (etag: string) => etag.trim().replace(/^"|"$/g, "");
  return (
    asked !== undefined &&
    asked.length === done.length &&
    asked.every((part, i) => part.number === done[i]!.number && unquote(part.etag) === done[i]!.etag)
  );
}

function completed(bucket: BucketEntry, key: string, etag: string): S3Response {
  return {
    status: 200,
    body: xmlDocument("CompleteMultipartUploadResult", {
      Location: `/${bucket.name}/${key}`,
      Bucket: bucket.name,
      Key: key,
      ETag: `"${etag}"`,
    }),
  };
}

/** DELETE /bucket/key?uploadId=… */
export function abortUpload(request: S3Request, bucket: BucketEntry): S3Response {
  bucket.store.abortUpload(uploadOf(request, bucket).id);
  return { status: 204 };
}

/** GET /bucket/key?uploadId=… */
export function listParts(request: S3Request, bucket: BucketEntry): S3Response {
  const upload = uploadOf(request, bucket);
  const maxParts = intParam(request.query, "max-parts", bucketLimits.maxListKeys, 0, bucketLimits.maxListKeys);
  const marker = intParam(request.query, "part-number-marker", 0, 0, 10_000);
  const all = bucket.store.parts(upload.id).filter((part) => part.number > marker);
  const page = all.slice(0, maxParts);
  const truncated = all.length > page.length;
  return {
    status: 200,
    body: xmlDocument("ListPartsResult", {
      Bucket: bucket.name,
      Key: upload.key,
      UploadId: upload.id,
      PartNumberMarker: marker,
      NextPartNumberMarker: page.at(-1)?.number ?? marker,
      MaxParts: maxParts,
      IsTruncated: truncated,
      Part: page.map((part) => ({
        PartNumber: part.number,
        LastModified: new Date(part.uploaded),
        ETag: `"${part.etag}"`,
        Size: part.size,
      })),
      StorageClass: "STANDARD",
    }),
  };
}

/** GET /bucket?uploads: in-progress uploads by key, then by start time. */
export function listUploads(request: S3Request, bucket: BucketEntry): S3Response {
  const prefix = request.query.get("prefix") ?? "";
  const delimiter = request.query.get("delimiter") ?? "";
  const keyMarker = request.query.get("key-marker") ?? "";
  const idMarker = request.query.get("upload-id-marker") ?? "";
  const maxUploads = intParam(request.query, "max-uploads", bucketLimits.maxListKeys, 0, bucketLimits.maxListKeys);
  const { url, encode } = keyEncoding(request.query);
  const uploads = bucket.store.uploads().filter((upload) => {
    if (!upload.key.startsWith(prefix)) return false;
    if (!keyMarker) return true;
    if (upload.key !== keyMarker) return Buffer.compare(Buffer.from(upload.key), Buffer.from(keyMarker)) > 0;
    return idMarker !== "" && upload.id > idMarker;
  });
  const entries: ({ upload: (typeof uploads)[number] } | { prefix: string })[] = [];
  const seen = new Set<string>();
  for (const upload of uploads) {
    const at = delimiter ? upload.key.indexOf(delimiter, prefix.length) : -1;
    if (at >= 0) {
      const group = upload.key.slice(0, at + delimiter.length);
      if (!seen.has(group)) {
        seen.add(group);
        entries.push({ prefix: group });
      }
    } else {
      entries.push({ upload });
    }
  }
  const page = entries.slice(0, maxUploads);
  const last = page.at(-1);
  const truncated = entries.length > page.length;
  return {
    status: 200,
    body: xmlDocument("ListMultipartUploadsResult", {
      Bucket: bucket.name,
      KeyMarker: encode(keyMarker),
      UploadIdMarker: idMarker,
      NextKeyMarker: truncated && last ? encode("upload" in last ? last.upload.key : last.prefix) : undefined,
      NextUploadIdMarker: truncated && last && "upload" in last ? last.upload.id : undefined,
      Delimiter: delimiter ? encode(delimiter) : undefined,
      Prefix: encode(prefix),
      MaxUploads: maxUploads,
      IsTruncated: truncated,
      Upload: page.flatMap((entry) =>
        "upload" in entry
          ? [
              {
                Key: encode(entry.upload.key),
                UploadId: entry.upload.id,
                Initiated: new Date(entry.upload.created),
                StorageClass: "STANDARD",
              },
            ]
          : [],
      ),
      CommonPrefixes: page.flatMap((entry) => ("prefix" in entry ? [{ Prefix: encode(entry.prefix) }] : [])),
      EncodingType: url ? "url" : undefined,
    }),
  };
}
