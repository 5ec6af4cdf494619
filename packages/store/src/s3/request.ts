import { bucketLimits } from "@nimbus/core";
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
  /**
   * The headers the signature covers, lower-case (`VerifiedRequest.signedHeaders`).
   * @default none: no header is taken as signed
   */
  signedHeaders?: readonly string[];
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

/**
 * `x-amz-meta-*` headers as user metadata. Header values arrive one character per byte;
 * S3 takes them as UTF-8 (what SDKs that send non-ASCII metadata send), so a value that
 * is valid UTF-8 is stored as the text it encodes. Any other byte is kept as the
 * character it is in ISO-8859-1.
 */
export function metadataFrom(headers: Headers): Record<string, string> {
  const metadata: Record<string, string> = {};
  for (const [name, value] of headers) {
    if (name.startsWith("x-amz-meta-")) metadata[name.slice("x-amz-meta-".length)] = headerText(value);
  }
  return metadata;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** A header value's bytes as UTF-8 text, or the value as it came when they are not UTF-8. */
export function headerText(value: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the printable ASCII range is what is tested
  if (/^[\x00-\x7f]*$/.test(value)) return value;
  try {
    return utf8.decode(Buffer.from(value, "latin1"));
  } catch {
    return value;
  }
}

/**
 * How a listing writes keys, from its `encoding-type`: as they are, or with `url` each
 * encoded as S3 encodes them ({@link urlEncodeKey}). Any other value is S3's InvalidArgument.
 */
export function keyEncoding(query: URLSearchParams): { url: boolean; encode: (text: string) => string } {
  const type = query.get("encoding-type");
  if (type === null || type === "") return { url: false, encode: (text) => text };
  if (type.toLowerCase() === "url") return { url: true, encode: urlEncodeKey };
  throw new S3Error("InvalidArgument", 400, "Invalid Encoding Method specified in Request", {
    ArgumentName: "encoding-type",
    ArgumentValue: type,
  });
}

/**
 * A key or prefix in a listing with `encoding-type=url`, encoded as S3 encodes it: the
 * UTF-8 bytes of everything but `A-Za-z0-9`, `-_.*` and `/` as `%XX` (upper-case), and a
 * space as `+` (so `+` itself is `%2B`), as a form decoder such as botocore's reads it.
 */
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

/** `partNumber` of an upload or a read: 1 to 10,000, or S3's InvalidArgument. */
export function partNumber(request: S3Request): number {
  const raw = request.query.get("partNumber") ?? "";
  const number = Number(raw);
  if (!/^\d+$/.test(raw) || number < 1 || number > bucketLimits.maxParts) {
    throw new S3Error(
      "InvalidArgument",
      400,
      `Part number must be an integer between 1 and ${bucketLimits.maxParts}, inclusive`,
      {
        ArgumentName: "partNumber",
        ArgumentValue: raw,
      },
    );
  }
  return number;
}
