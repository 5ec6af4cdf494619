/**
 * AWS Signature Version 4 as S3 checks it, for the `Authorization: AWS4-HMAC-SHA256 …` header
 * and for presigned URLs (`X-Amz-Algorithm=AWS4-HMAC-SHA256&…`).
 *
 * The canonical request is rebuilt from the request exactly as it arrived: the raw path (not a
 * WHATWG-normalised URL, which would resolve `..` and `.` segments that are part of S3 keys),
 * each path byte percent-encoded once with AWS's rules (S3 does not double-encode), the query
 * decoded and re-encoded the same way and sorted, and the signed headers trimmed with runs of
 * spaces collapsed.
 *
 * Region: any region in the credential scope is accepted, and the signature is checked with
 * the region the client put there. The scope is part of what is signed, so this loses nothing,
 * and it lets clients configured for `us-east-1` (the CLIs' default) or the emulator's own
 * region both work; real S3 would answer `AuthorizationHeaderMalformed` for a region other than
 * the bucket's.
 */

import { createHmac, hash, timingSafeEqual } from "node:crypto";
import { S3Error } from "./s3-error.ts";

/** The credentials the emulator generates; clients sign with them. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  /** The region the endpoint reports. Verification accepts any region a client signs with. */
  region: string;
}

/** What the body of a verified request is bound to, from `x-amz-content-sha256`. */
export type PayloadMode =
  /** `UNSIGNED-PAYLOAD`, and every presigned URL that does not say otherwise. */
  | { kind: "unsigned" }
  /** The hex SHA-256 of the body; the endpoint hashes the body and calls {@link assertPayloadHash}. */
  | { kind: "sha256"; hash: string }
  /** `STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`: an aws-chunked body with a signature per chunk. */
  | { kind: "streaming-signed"; trailer: boolean }
  /** `STREAMING-UNSIGNED-PAYLOAD-TRAILER`: an aws-chunked body without signatures, ending in trailers. */
  | { kind: "streaming-unsigned-trailer" };

/** A request whose signature checks out, with what it takes to verify an aws-chunked body. */
export interface VerifiedRequest {
  accessKeyId: string;
  payload: PayloadMode;
  /** HMAC key derived from the secret for the scope's date and region. */
  signingKey: Buffer;
  /** `<yyyymmdd>/<region>/s3/aws4_request`. */
  scope: string;
  /** The request's time, `yyyymmddThhmmssZ`. */
  amzDate: string;
  /** The request's signature; the first chunk of a signed aws-chunked body chains from it. */
  seedSignature: string;
  /** The region the client signed with. */
  region: string;
  /** Whether the signature came from the query string (a presigned URL). */
  presigned: boolean;
}

/** The request as received: method, URL with its raw path and query, and headers. */
export interface SignedRequest {
  method: string;
  /** The request target as received, `/bucket/key?query` or an absolute URL; never a normalised one. */
  url: string;
  headers: Headers;
}

const algorithm = "AWS4-HMAC-SHA256";
export const emptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/** S3's limit on the difference between a request's time and the server's. */
export const maxSkewMs = 15 * 60 * 1000;
/** The longest a SigV4 presigned URL may live, in seconds. */
export const maxPresignedExpires = 7 * 24 * 60 * 60;

const signatureMismatchMessage =
  "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
const unsupportedMechanism =
  "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.";
const missingQueryParameters =
  "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";

/**
 * Checks a request's SigV4 signature against `credentials` at time `now` (ms since the epoch)
 * and returns what the body is bound to. Throws {@link S3Error} with S3's code, status and
 * message for every way a request can fail: no or an unsupported signature, a malformed
 * header or query, an unknown access key, a clock too far off, an expired URL, unsigned
 * `x-amz-*` headers, a signature that does not match.
 */
export function verifySigV4(
  request: SignedRequest,
  credentials: S3Credentials,
  now: number,
  /**
   * The machine's own time, when `now` is an emulator clock that tests drive. Clients sign
   * with the machine's time, so the skew checks use it; presigned expiry uses `now`.
   */
  wall = now,
): VerifiedRequest {
  const { path, query } = splitTarget(request.url);
  const params = parseQuery(query);
  const authorization = request.headers.get("authorization");
  const presigned = params.some((p) => p.name === "X-Amz-Algorithm");
  const presignedV2 = params.some((p) => p.name === "AWSAccessKeyId") && params.some((p) => p.name === "Signature");
  if (authorization !== null && (presigned || presignedV2)) {
    throw new S3Error(
      "InvalidArgument",
      400,
      "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified",
      { ArgumentName: "Authorization", ArgumentValue: authorization },
    );
  }
  let parts: AuthParts;
  if (authorization !== null) parts = headerAuth(authorization, request.headers, wall);
  else if (presigned) parts = queryAuth(params, now, wall);
  else if (presignedV2) throw new S3Error("InvalidRequest", 400, unsupportedMechanism);
  else throw new S3Error("AccessDenied", 403, "Access Denied");

  if (parts.accessKeyId !== credentials.accessKeyId) {
    throw new S3Error("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.", {
      AWSAccessKeyId: parts.accessKeyId,
    });
  }
  checkSignedHeaders(parts.signedHeaders, request.headers);

  const canonicalRequest = [
    request.method,
    canonicalPath(path),
    canonicalQuery(params, parts.presigned),
    canonicalHeaders(parts.signedHeaders, request.headers),
    parts.signedHeaders.join(";"),
    parts.payloadHash,
  ].join("\n");
  const scope = `${parts.date}/${parts.region}/s3/aws4_request`;
  const stringToSign = `${algorithm}\n${parts.amzDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
  const signingKey = signingKeyFor(credentials.secretAccessKey, parts.date, parts.region);
  const expected = hmacHex(signingKey, stringToSign);
  if (!sameSignature(expected, parts.signature)) {
    throw new S3Error("SignatureDoesNotMatch", 403, signatureMismatchMessage, {
      AWSAccessKeyId: parts.accessKeyId,
      StringToSign: stringToSign,
      SignatureProvided: parts.signature,
      StringToSignBytes: hexBytes(stringToSign),
      CanonicalRequest: canonicalRequest,
      CanonicalRequestBytes: hexBytes(canonicalRequest),
    });
  }
  return {
    accessKeyId: parts.accessKeyId,
    payload: parts.payload,
    signingKey,
    scope,
    amzDate: parts.amzDate,
    seedSignature: expected,
    region: parts.region,
    presigned: parts.presigned,
  };
}

/**
 * Throws S3's `XAmzContentSHA256Mismatch` when the SHA-256 the endpoint computed over a body
 * differs from the one the client signed (`{ kind: "sha256" }` payloads).
 */
export function assertPayloadHash(signedHex: string, computedHex: string): void {
  if (signedHex.toLowerCase() === computedHex) return;
  throw new S3Error(
    "XAmzContentSHA256Mismatch",
    400,
    "The provided 'x-amz-content-sha256' header does not match what was computed.",
    { ClientComputedContentSHA256: signedHex, S3ComputedContentSHA256: computedHex },
  );
}

interface AuthParts {
  presigned: boolean;
  accessKeyId: string;
  date: string;
  region: string;
  amzDate: string;
  signedHeaders: string[];
  signature: string;
  payloadHash: string;
  payload: PayloadMode;
}

function headerAuth(authorization: string, headers: Headers, now: number): AuthParts {
  const space = authorization.indexOf(" ");
  const scheme = space < 0 ? authorization : authorization.slice(0, space);
  if (scheme !== algorithm) {
    if (scheme === "AWS" || scheme === "AWS4-ECDSA-P256-SHA256")
      throw new S3Error("InvalidRequest", 400, unsupportedMechanism);
    throw new S3Error("InvalidArgument", 400, "Unsupported Authorization Type", {
      ArgumentName: "Authorization",
      ArgumentValue: authorization,
    });
  }
  const components = new Map<string, string>();
  for (const component of authorization.slice(space + 1).split(",")) {
    const trimmed = component.trim();
    const eq = trimmed.indexOf("=");
    if (eq > 0) components.set(trimmed.slice(0, eq), trimmed.slice(eq + 1));
  }
  const credential = components.get("Credential");
  const signedHeaders = components.get("SignedHeaders");
  const signature = components.get("Signature");
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw malformedHeader(
      `the authorization header requires Credential, SignedHeaders and Signature components; found "${authorization}"`,
    );
  }

  const amzDateHeader = headers.get("x-amz-date");
  const dateHeader = amzDateHeader ?? headers.get("date");
  const time =
    dateHeader === null ? undefined : amzDateHeader !== null ? parseAmzDate(dateHeader) : Date.parse(dateHeader);
  if (dateHeader === null || time === undefined || Number.isNaN(time)) {
    throw new S3Error("AccessDenied", 403, "AWS authentication requires a valid Date or x-amz-date header");
  }
  const amzDate = amzDateHeader ?? formatAmzDate(time);
  const scope = parseCredential(credential, amzDate, malformedHeader);

  const payloadHash = headers.get("x-amz-content-sha256");
  if (payloadHash === null) {
    throw new S3Error("InvalidRequest", 400, "Missing required header for this request: x-amz-content-sha256");
  }
  const payload = payloadMode(payloadHash);

  if (Math.abs(now - time) > maxSkewMs) {
    throw new S3Error(
      "RequestTimeTooSkewed",
      403,
      "The difference between the request time and the current time is too large.",
      {
        RequestTime: dateHeader,
        ServerTime: isoSeconds(now),
        MaxAllowedSkewMilliseconds: String(maxSkewMs),
      },
    );
  }
  return {
    presigned: false,
    ...scope,
    amzDate,
    signedHeaders: signedHeaders.split(";"),
    signature,
    payloadHash,
    payload,
  };
}

function queryAuth(params: QueryParam[], now: number, wall: number): AuthParts {
  const get = (name: string) => params.find((p) => p.name === name)?.value;
  const algorithmParam = get("X-Amz-Algorithm");
  const credential = get("X-Amz-Credential");
  const signature = get("X-Amz-Signature");
  const amzDate = get("X-Amz-Date");
  const signedHeaders = get("X-Amz-SignedHeaders");
  const expires = get("X-Amz-Expires");
  if (
    algorithmParam === undefined ||
    credential === undefined ||
    signature === undefined ||
    amzDate === undefined ||
    signedHeaders === undefined ||
    expires === undefined
  ) {
    throw queryError(missingQueryParameters);
  }
  if (algorithmParam !== algorithm) throw queryError(`X-Amz-Algorithm only supports "${algorithm}"`);
  const time = parseAmzDate(amzDate);
  if (time === undefined) throw queryError(`X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd'T'HHmmss'Z'"`);
  if (!integer.test(expires)) throw queryError("X-Amz-Expires should be a number");
  const seconds = Number(expires);
  if (seconds < 0) throw queryError("X-Amz-Expires must be non-negative");
  if (seconds > maxPresignedExpires) {
    throw queryError(`X-Amz-Expires must be less than a week (in seconds) that is ${maxPresignedExpires}`);
  }
  const scope = parseCredential(credential, amzDate, (reason) =>
    queryError(`Error parsing the X-Amz-Credential parameter; ${reason}`),
  );

  if (time - Math.max(now, wall) > maxSkewMs) throw new S3Error("AccessDenied", 403, "Request is not valid yet");
  const expiresAt = time + seconds * 1000;
  if (now > expiresAt) {
    throw new S3Error("AccessDenied", 403, "Request has expired", {
      "X-Amz-Expires": expires,
      Expires: isoSeconds(expiresAt),
      ServerTime: isoSeconds(now),
    });
  }
  // S3 binds presigned URLs to UNSIGNED-PAYLOAD unless the URL itself says otherwise (the
  // SDK's presigner adds X-Amz-Content-Sha256=UNSIGNED-PAYLOAD; botocore adds nothing).
  const payloadHash = get("X-Amz-Content-Sha256") ?? "UNSIGNED-PAYLOAD";
  return {
    presigned: true,
    ...scope,
    amzDate,
    signedHeaders: signedHeaders.split(";"),
    signature,
    payloadHash,
    payload: payloadMode(payloadHash),
  };
}

function parseCredential(
  credential: string,
  amzDate: string,
  malformed: (reason: string) => S3Error,
): { accessKeyId: string; date: string; region: string } {
  const parts = credential.split("/");
  // An access key id never holds a "/", but a scope always has four parts after it.
  if (parts.length < 5 || parts[0] === "") {
    throw malformed(
      `the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"; found "${credential}"`,
    );
  }
  const [terminal, service, region, date] = [parts.pop()!, parts.pop()!, parts.pop()!, parts.pop()!];
  if (!eightDigits.test(date) || region === "") {
    throw malformed(
      `the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request"; found "${credential}"`,
    );
  }
  if (service !== "s3") throw malformed(`incorrect service "${service}". This endpoint belongs to "s3".`);
  if (terminal !== "aws4_request")
    throw malformed(`incorrect terminal "${terminal}". This endpoint uses "aws4_request".`);
  if (date !== amzDate.slice(0, 8)) {
    throw malformed(
      `Invalid credential date "${date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`,
    );
  }
  return { accessKeyId: parts.join("/"), date, region };
}

function malformedHeader(reason: string): S3Error {
  return new S3Error("AuthorizationHeaderMalformed", 400, `The authorization header is malformed; ${reason}`);
}

function queryError(message: string): S3Error {
  return new S3Error("AuthorizationQueryParametersError", 400, message);
}

const contentSha256Values =
  "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.";
const hexSha256 = /^[0-9a-fA-F]{64}$/;

function payloadMode(value: string): PayloadMode {
  switch (value) {
    case "UNSIGNED-PAYLOAD":
      return { kind: "unsigned" };
    case "STREAMING-UNSIGNED-PAYLOAD-TRAILER":
      return { kind: "streaming-unsigned-trailer" };
    case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD":
      return { kind: "streaming-signed", trailer: false };
    case "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER":
      return { kind: "streaming-signed", trailer: true };
    case "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD":
    case "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER":
      throw new S3Error("InvalidRequest", 400, unsupportedMechanism);
  }
  if (hexSha256.test(value)) return { kind: "sha256", hash: value.toLowerCase() };
  throw new S3Error("InvalidArgument", 400, contentSha256Values, {
    ArgumentName: "x-amz-content-sha256",
    ArgumentValue: value,
  });
}

/** S3 refuses requests that carry `x-amz-*` headers it was not asked to check, and an unsigned host. */
function checkSignedHeaders(signedHeaders: string[], headers: Headers): void {
  const signed = new Set(signedHeaders.map((h) => h.toLowerCase()));
  const unsigned: string[] = [];
  if (!signed.has("host")) unsigned.push("host");
  for (const name of headers.keys()) {
    if (name.startsWith("x-amz-") && !signed.has(name)) unsigned.push(name);
  }
  if (unsigned.length > 0) {
    throw new S3Error("AccessDenied", 403, "There were headers present in the request which were not signed", {
      HeadersNotSigned: unsigned.join(", "),
    });
  }
}

/** Splits a request target into its raw path and raw query; accepts an absolute URL too. */
function splitTarget(url: string): { path: string; query: string } {
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

interface QueryParam {
  /** Decoded name and value, for reading the X-Amz-* parameters. */
  name: string;
  value: string;
  /** AWS-encoded name and value, for the canonical query string. */
  encodedName: string;
  encodedValue: string;
}

function parseQuery(query: string): QueryParam[] {
  const params: QueryParam[] = [];
  if (query === "") return params;
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const rawName = eq < 0 ? pair : pair.slice(0, eq);
    const rawValue = eq < 0 ? "" : pair.slice(eq + 1);
    const nameBytes = percentDecode(rawName, true);
    const valueBytes = percentDecode(rawValue, true);
    params.push({
      name: typeof nameBytes === "string" ? nameBytes : nameBytes.toString("utf8"),
      value: typeof valueBytes === "string" ? valueBytes : valueBytes.toString("utf8"),
      encodedName: uriEncode(nameBytes, false),
      encodedValue: uriEncode(valueBytes, false),
    });
  }
  return params;
}

function canonicalQuery(params: QueryParam[], presigned: boolean): string {
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

/**
 * The bytes a raw URL component stands for: `%XX` escapes decoded, everything else taken as
 * UTF-8, and in a query `+` read as a space (as S3 and URLSearchParams read query strings;
 * clients that mean "+" send `%2B`). Returns the component itself when nothing needed decoding.
 */
function percentDecode(raw: string, plusAsSpace: boolean): string | Buffer {
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
      for (const b of Buffer.from(char, "utf8")) bytes.push(b);
      i += char.length - 1;
    }
  }
  return Buffer.from(bytes);
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

const hexEscapes = Array.from({ length: 256 }, (_, b) => `%${b.toString(16).toUpperCase().padStart(2, "0")}`);
const unreservedBytes = new Uint8Array(256);
for (const c of "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
  unreservedBytes[c.charCodeAt(0)] = 1;

/** AWS's URI encoding: each byte outside `A-Za-z0-9-._~` (and `/` when kept) as `%XX`. */
function uriEncode(value: string | Buffer, keepSlash: boolean): string {
  if (typeof value === "string") {
    if (unreserved.test(value)) return value;
    value = Buffer.from(value, "utf8");
  }
  let out = "";
  for (const b of value) {
    out += unreservedBytes[b] === 1 || (keepSlash && b === 47) ? String.fromCharCode(b) : hexEscapes[b]!;
  }
  return out;
}

const amzDatePattern = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const isoPunctuation = /[-:]|\.\d{3}/g;
const isoMilliseconds = /\.\d{3}Z$/;
const integer = /^-?\d+$/;
const eightDigits = /^\d{8}$/;

/** Milliseconds since the epoch for `yyyymmddThhmmssZ`, or undefined when it is not one. */
function parseAmzDate(value: string): number | undefined {
  const m = amzDatePattern.exec(value);
  if (m === null) return undefined;
  const [month, day, hours, minutes, seconds] = [Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])];
  const time = Date.UTC(Number(m[1]), month - 1, day, hours, minutes, seconds);
  // Date.UTC rolls 31 February over into March; such a date is not one.
  const valid =
    hours < 24 && minutes < 60 && seconds < 60 && new Date(time).getUTCDate() === day && month >= 1 && month <= 12;
  return valid ? time : undefined;
}

function formatAmzDate(time: number): string {
  return new Date(time).toISOString().replace(isoPunctuation, "");
}

/** `2026-01-02T03:04:05Z`, as S3 writes times in error responses. */
function isoSeconds(time: number): string {
  return new Date(time).toISOString().replace(isoMilliseconds, "Z");
}

const signingKeys = new Map<string, Buffer>();
const maxSigningKeys = 64;

/** The derived signing key for a secret, date and region; derived once per day and region. */
function signingKeyFor(secret: string, date: string, region: string): Buffer {
  const cacheKey = `${date}/${region}/${secret}`;
  let key = signingKeys.get(cacheKey);
  if (key === undefined) {
    key = createHmac("sha256", `AWS4${secret}`).update(date).digest();
    for (const part of [region, "s3", "aws4_request"]) key = createHmac("sha256", key).update(part).digest();
    if (signingKeys.size >= maxSigningKeys) signingKeys.delete(signingKeys.keys().next().value!);
    signingKeys.set(cacheKey, key);
  }
  return key;
}

export function sha256Hex(data: string | Uint8Array): string {
  return hash("sha256", data, "hex");
}

const hmacPads = new WeakMap<Buffer, { inner: Buffer; outer: Buffer }>();

/**
 * HMAC-SHA256 of `data` as hex. Built on the one-shot `hash()` with the key's padded blocks
 * kept per key: `createHmac` costs some 20 µs a call in Node 24 (a key import each time), four
 * times this, and it runs once per request and once per 64 KiB chunk.
 */
export function hmacHex(key: Buffer, data: string): string {
  let pads = hmacPads.get(key);
  if (pads === undefined) {
    const block = Buffer.alloc(64);
    (key.length > 64 ? hash("sha256", key, "buffer") : key).copy(block);
    const inner = Buffer.allocUnsafe(64);
    const outer = Buffer.allocUnsafe(64);
    for (let i = 0; i < 64; i++) {
      inner[i] = block[i]! ^ 0x36;
      outer[i] = block[i]! ^ 0x5c;
    }
    pads = { inner, outer };
    hmacPads.set(key, pads);
  }
  const innerHash = hash("sha256", Buffer.concat([pads.inner, Buffer.from(data, "utf8")]), "buffer");
  return hash("sha256", Buffer.concat([pads.outer, innerHash]), "hex");
}

/** Compares two hex signatures in constant time (for equal lengths). */
export function sameSignature(expected: string, provided: string): boolean {
  if (expected.length !== provided.length) return false;
  return timingSafeEqual(Buffer.from(expected, "latin1"), Buffer.from(provided, "latin1"));
}

/** S3's `…Bytes` error fields: each UTF-8 byte in hex, space-separated. */
function hexBytes(text: string): string {
  const hex = Buffer.from(text, "utf8").toString("hex");
  let out = "";
  for (let i = 0; i < hex.length; i += 2) out += (i === 0 ? "" : " ") + hex.slice(i, i + 2);
  return out;
}
