import type { BodySource } from "../body-writer.ts";
import type { Conditions } from "../conditions.ts";
import type { RequestChecksum } from "./checksums.ts";
import { S3Error } from "./s3-error.ts";

/** One S3 request, authenticated, with its body decoded and checked as it is read. */
export interface S3Request {
  method: string;
  /** The bucket named in the path, if any. */
  bucket?: string;
  /** The object key named in the path, exactly as sent (never normalised: `a/../b` is a key). */
  key?: string;
  query: URLSearchParams;
  headers: Headers;
  /** The payload, decoded from aws-chunked and verified against its hash or checksum as it streams. */
  body: BodySource;
  /** The checksum the client sent with the payload, if any; verified by the time the body is read. */
  checksum?: RequestChecksum;
  requestId: string;
}

/** What an operation answers; the server writes it. */
export interface S3Response {
  status: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array | ReadableStream<Uint8Array>;
}

/**
 * The bucket and key of a raw request path (`/bucket/some/key`). The path is split
 * before decoding, and nothing is normalised, so `..`, `//` and `%2F` stay what the
 * client meant.
 */
export function parseTarget(rawPath: string): { bucket?: string; key?: string } {
  const path = rawPath.startsWith("/") ? rawPath.slice(1) : rawPath;
  if (path === "") return {};
  const slash = path.indexOf("/");
  const bucket = decode(slash < 0 ? path : path.slice(0, slash));
  if (slash < 0 || slash === path.length - 1) return { bucket };
  return { bucket, key: decode(path.slice(slash + 1)) };
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new S3Error("InvalidURI", 400, "Couldn't parse the specified URI.");
  }
}

/** HTTP's conditional headers as store conditions, with HTTP's whole-second dates. */
export function conditionsFrom(
  headers: Headers,
  names: { match: string; noneMatch: string; modifiedSince: string; unmodifiedSince: string },
): Conditions | undefined {
  const conditions: Conditions = {};
  const match = headers.get(names.match);
  const noneMatch = headers.get(names.noneMatch);
  const modifiedSince = httpDate(headers.get(names.modifiedSince));
  const unmodifiedSince = httpDate(headers.get(names.unmodifiedSince));
  if (match !== null) conditions.etagMatches = match;
  if (noneMatch !== null) conditions.etagDoesNotMatch = noneMatch;
  // Last-Modified has whole seconds: "modified since T" means stored at T+1s or later.
  if (modifiedSince !== undefined) conditions.uploadedAfter = new Date(modifiedSince + 999);
  if (unmodifiedSince !== undefined) conditions.uploadedBefore = new Date(unmodifiedSince + 1000);
  return Object.keys(conditions).length > 0 ? conditions : undefined;
}

export const readConditions = {
  match: "if-match",
  noneMatch: "if-none-match",
  modifiedSince: "if-modified-since",
  unmodifiedSince: "if-unmodified-since",
};

export const copySourceConditions = {
  match: "x-amz-copy-source-if-match",
  noneMatch: "x-amz-copy-source-if-none-match",
  modifiedSince: "x-amz-copy-source-if-modified-since",
  unmodifiedSince: "x-amz-copy-source-if-unmodified-since",
};

/** A date header's time in ms; an unparseable one is ignored, as S3 does. */
function httpDate(value: string | null): number | undefined {
  if (value === null) return undefined;
  const time = Date.parse(value);
  return Number.isNaN(time) ? undefined : time;
}

/** `x-amz-meta-*` headers as user metadata. */
export function metadataFrom(headers: Headers): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of headers) {
    if (name.startsWith("x-amz-meta-")) metadata[name.slice("x-amz-meta-".length)] = value;
  }
  return metadata;
}

/** A key or prefix in a listing with `encoding-type=url`: encoded as S3 does (spaces as `+`, `/` kept). */
export function urlEncodeKey(text: string): string {
  return encodeURIComponent(text)
    .replace(/[!'()~]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, "+")
    .replace(/%2F/g, "/");
}

/** An integer query parameter within bounds, or S3's InvalidArgument. */
export function intParam(query: URLSearchParams, name: string, fallback: number, min: number, max: number): number {
  const raw = query.get(name);
  if (raw === null || raw === "") return fallback;
  const value = Number(raw);
  if (!/^-?\d+$/.test(raw) || value < min) {
    throw new S3Error("InvalidArgument", 400, `Provided ${name} not an integer or within integer range`, {
      ArgumentName: name,
      ArgumentValue: raw,
    });
  }
  return Math.min(value, max);
}
