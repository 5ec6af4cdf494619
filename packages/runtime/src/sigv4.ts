/**
 * The canonical request of AWS Signature Version 4 for S3, built once for both sides: the
 * emulator's S3 endpoint rebuilds it from a request as it arrived to check a signature, and
 * the presigner builds it from the URL it is about to hand out. Pure and platform-neutral
 * (no Node built-ins), so a deployed host and a worker can use it too.
 *
 * The canonical request is built from the request target exactly as sent: the raw path (not a
 * WHATWG-normalised URL, which would resolve `..` and `.` segments that are part of S3 keys),
 * each path byte percent-encoded once with AWS's rules (S3 does not double-encode), the query
 * decoded and re-encoded the same way and sorted, and the signed headers trimmed with runs of
 * spaces collapsed.
 */

export const sigV4Algorithm = "AWS4-HMAC-SHA256";

/** One query parameter of a request target. */
export interface SigV4QueryParam {
  /** Decoded name and value, for reading the X-Amz-* parameters. */
  name: string;
  value: string;
  /** AWS-encoded name and value, for the canonical query string. */
  encodedName: string;
  encodedValue: string;
}

/** What a SigV4 signature covers. */
export interface CanonicalRequestInput {
  method: string;
  /** The raw path as sent, percent-escapes and all. */
  path: string;
  params: SigV4QueryParam[];
  headers: Headers;
  /** Lower-case header names, in the order the signature lists them. */
  signedHeaders: string[];
  /** The payload's hex SHA-256, or `UNSIGNED-PAYLOAD` and the like. */
  payloadHash: string;
  /** Whether the signature travels in the query (`X-Amz-Signature` is then left out). */
  presigned: boolean;
}

/** The canonical request SigV4 hashes and signs. */
export function canonicalRequest(input: CanonicalRequestInput): string {
  return [
    input.method,
    canonicalPath(input.path),
    canonicalQuery(input.params, input.presigned),
    canonicalHeaders(input.signedHeaders, input.headers),
    input.signedHeaders.join(";"),
    input.payloadHash,
  ].join("\n");
}

/** `<yyyymmdd>/<region>/s3/aws4_request`: the credential scope of an S3 signature. */
export function credentialScope(amzDate: string, region: string): string {
  return `${amzDate.slice(0, 8)}/${region}/s3/aws4_request`;
}

/** The string an S3 signature signs, given the canonical request's hex SHA-256. */
export function stringToSign(amzDate: string, scope: string, canonicalRequestSha256: string): string {
  return `${sigV4Algorithm}\n${amzDate}\n${scope}\n${canonicalRequestSha256}`;
}

/** Splits a request target into its raw path and raw query; accepts an absolute URL too. */
export function splitTarget(url: string): { path: string; query: string } {
  let start = 0;
  if (url.charCodeAt(0) !== 47 /* "/" */) {
    const scheme = url.indexOf("://");
    if (scheme >= 0) {
      const slash = url.indexOf("/", scheme + 3);
      const question = url.indexOf("?", scheme + 3);
      start = slash < 0 || (question >= 0 && question < slash) ? (question < 0 ? url.length : question) : slash;
    }
  }
  let end = url.indexOf("#", start);
  if (end < 0) end = url.length;
  const question = url.indexOf("?", start);
  if (question < 0 || question > end) return { path: url.slice(start, end) || "/", query: "" };
  return { path: url.slice(start, question) || "/", query: url.slice(question + 1, end) };
}

/** A raw query string's parameters, in the order sent. */
export function parseQuery(query: string): SigV4QueryParam[] {
  const params: SigV4QueryParam[] = [];
  if (query === "") return params;
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? "" : pair.slice(eq + 1);
    const nameBytes = percentDecode(rawName, true);
    const valueBytes = percentDecode(rawValue, true);
    params.push({
      name: typeof nameBytes === "string" ? nameBytes : utf8Decoder.decode(nameBytes),
      value: typeof valueBytes === "string" ? valueBytes : utf8Decoder.decode(valueBytes),
      encodedName: uriEncode(nameBytes, false),
      encodedValue: uriEncode(valueBytes, false),
    });
  }
  return params;
}

function canonicalQuery(params: SigV4QueryParam[], presigned: boolean): string {
  const kept = presigned ? params.filter((p) => p.name !== "X-Amz-Signature") : params.slice();
  kept.sort((a, b) =>
    a.encodedName < b.encodedName
      ? -1
      : a.encodedName > b.encodedName
        ? 1
        : a.encodedValue < b.encodedValue
          ? -1
          : a.encodedValue > b.encodedValue
            ? 1
            : 0,
  );
  let out = "";
  for (let i = 0; i < kept.length; i++) {
    const p = kept[i]!;
    out += `${i === 0 ? "" : "&"}${p.encodedName}=${p.encodedValue}`;
  }
  return out;
}

/**
 * The path as S3 canonicalises it: decoded, then every byte outside `A-Za-z0-9-._~` and `/`
 * percent-encoded once, upper-case. Segments are kept as they are: `//`, `.` and `..` are part
 * of keys in S3.
 */
export function canonicalPath(rawPath: string): string {
  const decoded = percentDecode(rawPath, false);
  return typeof decoded === "string" && unreservedOrSlash.test(decoded) ? decoded : uriEncode(decoded, true);
}

function canonicalHeaders(signedHeaders: string[], headers: Headers): string {
  let out = "";
  for (const name of signedHeaders) {
    let value = headers.get(name) ?? "";
    if (value.includes("  ") || value.includes("\t") || value.includes("\n") || value.includes("\r")) {
      value = value.replace(runsOfSpace, " ");
    }
    out += `${name}:${value.trim()}\n`;
  }
  return out;
}

const runsOfSpace = /[ \t\r\n]+/g;
const unreserved = /^[A-Za-z0-9\-._~]*$/;
const unreservedOrSlash = /^[A-Za-z0-9\-._~/]*$/;
// Printable ASCII without "%" and "+", which need decoding.
const plainAscii = /^[\x20-\x24\x26-\x2a\x2c-\x7e]*$/;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();

/**
 * The bytes a raw URL component stands for: `%XX` escapes decoded, everything else taken as
 * UTF-8, and in a query `+` read as a space (as S3 and URLSearchParams read query strings;
 * clients that mean "+" send `%2B`). Returns the component itself when nothing needed decoding.
 */
function percentDecode(raw: string, plusAsSpace: boolean): string | Uint8Array {
  if (plainAscii.test(raw)) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 37 /* % */ && i + 2 < raw.length && isHex(raw.charCodeAt(i + 1)) && isHex(raw.charCodeAt(i + 2))) {
      bytes.push(Number.parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c === 43 /* + */ && plusAsSpace) {
      bytes.push(32);
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      const codePoint = raw.codePointAt(i)!;
      const char = String.fromCodePoint(codePoint);
      for (const b of utf8Encoder.encode(char)) bytes.push(b);
      i += char.length - 1;
    }
  }
  return Uint8Array.from(bytes);
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

const hexEscapes = Array.from({ length: 256 }, (_, b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`);
const unreservedBytes = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
  unreservedBytes[c.charCodeAt(0)] = 1;

/** AWS's URI encoding: each UTF-8 byte outside `A-Za-z0-9-._~` (and `/` when kept) as `%XX`. */
export function uriEncode(value: string | Uint8Array, keepSlash: boolean): string {
  if (typeof value === "string") {
    if (unreserved.test(value)) return value;
    value = utf8Encoder.encode(value);
  }
  let out = "";
  for (const b of value) {
    out += unreservedBytes[b] === 1 || (keepSlash && b === 47) ? String.fromCharCode(b) : hexEscapes[b]!;
  }
  return out;
}

const amzDatePattern = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const isoPunctuation = /[-:]|\.\d{3}/g;

/** Milliseconds since the epoch for `yyyymmddThhmmssZ`, or undefined when it is not one. */
export function parseAmzDate(value: string): number | undefined {
  const m = amzDatePattern.exec(value);
  if (m === null) return undefined;
  const [month, day, hours, minutes, seconds] = [Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])];
  const time = Date.UTC(Number(m[1]), month - 1, day, hours, minutes, seconds);
  // Date.UTC rolls 31 February over into March; such a date is not one.
  const valid =
    hours < 24 && minutes < 60 && seconds < 60 && new Date(time).getUTCDate() === day && month >= 1 && month <= 12;
  return valid ? time : undefined;
}

/** `yyyymmddThhmmssZ` for a time in ms since the epoch (milliseconds dropped). */
export function formatAmzDate(time: number): string {
  return new Date(time).toISOString().replace(isoPunctuation, "");
}
