import type { GetRange, ObjectRecord } from "./store.ts";

// How objects look over HTTP, for the S3 endpoint and presigned URLs alike.

/** One `bytes=` range; several ranges or another unit serve the whole object, as S3 does. */
export function parseRange(header: string | null): GetRange | undefined {
  const match = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!match) return undefined;
  const [, first, last] = match;
  if (first === "" && last === "") return undefined;
  if (first === "") return { suffix: Number(last) };
  const offset = Number(first);
  if (last === "") return { offset };
  if (Number(last) < offset) return undefined;
  return { offset, length: Number(last) - offset + 1 };
}

/** Response headers for user metadata; non-ASCII values go RFC 2047-encoded, as S3 sends them. */
function metadataHeaders(metadata: Record<string, string>, into: Record<string, string>): void {
  for (const [name, value] of Object.entries(metadata)) {
    into[`x-amz-meta-${name}`] = /^[\x20-\x7e]*$/.test(value)
      ? value
      : `=?UTF-8?B?${Buffer.from(value).toString("base64")}?=`;
  }
}

/** The headers an object is served with (without its length, which depends on the range). */
export function objectHeaders(record: ObjectRecord): Record<string, string> {
  const headers: Record<string, string> = {
    "content-type": record.contentType,
    etag: `"${record.etag}"`,
    "last-modified": new Date(record.uploaded).toUTCString(),
    "accept-ranges": "bytes",
  };
  for (const [name, value] of Object.entries(record.headers)) headers[name] = value;
  metadataHeaders(record.metadata, headers);
  return headers;
}
