/**
 * AWS Signature Version 4 as S3 checks it, for the `Authorization: AWS4-HMAC-SHA256 …` header
 * and for presigned URLs (`X-Amz-Algorithm=AWS4-HMAC-SHA256&…`), whether the aws CLI, an SDK
 * or the bindings' own `presign` (runtime's `presignS3Url`) made them.
 *
 * The canonical request is rebuilt from the request exactly as it arrived, by the same code
 * the presigner signs with (runtime's `canonicalRequest`); this file adds what only a server
 * does: reading the credentials from the header or query, S3's checks and errors, and the
 * signing key cached per day and region with Node's fast hashing.
 *
 * Region: any region in the credential scope is accepted, and the signature is checked with
 * the region the client put there. The scope is part of what is signed, so this loses nothing,
 * and it lets clients configured for `us-east-1` (the CLIs' default) or the emulator's own
 * region both work; real S3 would answer `AuthorizationHeaderMalformed` for a region other than
 * the bucket's.
 */

import { createHmac, hash, timingSafeEqual } from "node:crypto";
import {
  sigV4Algorithm as algorithm,
  canonicalRequest,
  credentialScope,
  formatAmzDate,
  maxPresignSeconds,
  parseAmzDate,
  parseQuery,
  type SigV4QueryParam,
  splitTarget,
  stringToSign as toSign,
} from "@nimbus/runtime/target";
import { headerText } from "./request.ts";
import { S3Error } from "./s3-error.ts";

/** A key's secret by its id; undefined for a key the endpoint does not know. */
export type SecretLookup = (accessKeyId: string) => string | undefined;

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
  /** The headers the signature covers, lower-case: only those can be trusted to come from the key's holder. */
  signedHeaders: readonly string[];
}

/** The request as received: method, URL with its raw path and query, and headers. */
export interface SignedRequest {
  method: string;
  /** The request target as received, `/bucket/key?query` or an absolute URL; never a normalised one. */
  url: string;
  /** As received: each value one character per byte (ISO-8859-1), as Node reads them. */
  headers: Headers;
}

/**
 * Whether a request carries credentials of any kind (an `Authorization` header, or a
 * presigned URL's signature), so that one without can be answered as S3 answers an
 * anonymous caller.
 */
export function carriesCredentials(request: SignedRequest): boolean {
  if (request.headers.has("authorization")) return true;
  const params = parseQuery(splitTarget(request.url).query);
  return params.some((p) => p.name === "X-Amz-Algorithm" || p.name === "AWSAccessKeyId" || p.name === "Signature");
}

export const emptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
/** S3's limit on the difference between a request's time and the server's. */
export const maxSkewMs = 15 * 60 * 1000;

const signatureMismatchMessage =
  "The request signature we calculated does not match the signature you provided. Check your key and signing method.";
const unsupportedMechanism =
  "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.";
const missingQueryParameters =
  "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";

/**
 * Checks a request's SigV4 signature against `credentials` (one key, or a lookup of the
 * secret of any key the endpoint knows) at time `now` (ms since the epoch)
 * and returns what the body is bound to. Throws {@link S3Error} with S3's code, status and
 * message for every way a request can fail: no or an unsupported signature, a malformed
 * header or query, an unknown access key, a clock too far off, an expired URL, unsigned
 * `x-amz-*` headers, a signature that does not match.
 */
export function verifySigV4(
  request: SignedRequest,
  credentials: (Pick<S3Credentials, "accessKeyId" | "secretAccessKey"> & { region?: string }) | SecretLookup,
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

  const secret =
    typeof credentials === "function"
      ? credentials(parts.accessKeyId)
      : parts.accessKeyId === credentials.accessKeyId
        ? credentials.secretAccessKey
        : undefined;
  if (secret === undefined) {
    throw new S3Error("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records.", {
      AWSAccessKeyId: parts.accessKeyId,
    });
  }
  checkSignedHeaders(parts.signedHeaders, request.headers);

  const canonical = canonicalRequest({
    method: request.method,
    path,
    params,
    headers: request.headers,
    signedHeaders: parts.signedHeaders,
    payloadHash: parts.payloadHash,
    presigned: parts.presigned,
  });
  const scope = credentialScope(parts.date, parts.region);
  // S3 hashes the request's bytes as they came. Header values hold one character per byte
  // (Headers are byte strings), and the rest of the canonical request is ASCII, so its
  // latin1 form is those bytes: a value a client sent as UTF-8 verifies against the UTF-8
  // it signed, and one sent in another encoding than it signed fails, as on S3.
  const canonicalBytes = Buffer.from(canonical, "latin1");
  const stringToSign = toSign(parts.amzDate, scope, sha256Hex(canonicalBytes));
  const signingKey = signingKeyFor(secret, parts.date, parts.region);
  const expected = hmacHex(signingKey, stringToSign);
  if (!sameSignature(expected, parts.signature)) {
    throw new S3Error("SignatureDoesNotMatch", 403, signatureMismatchMessage, {
      AWSAccessKeyId: parts.accessKeyId,
      StringToSign: stringToSign,
      SignatureProvided: parts.signature,
      StringToSignBytes: hexBytes(Buffer.from(stringToSign, "utf8")),
      CanonicalRequest: headerText(canonical),
      CanonicalRequestBytes: hexBytes(canonicalBytes),
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
    signedHeaders: parts.signedHeaders.map((name) => name.toLowerCase()),
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

function queryAuth(params: SigV4QueryParam[], now: number, wall: number): AuthParts {
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
  if (seconds > maxPresignSeconds) {
    throw queryError(`X-Amz-Expires must be less than a week (in seconds) that is ${maxPresignSeconds}`);
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

const isoMilliseconds = /\.\d{3}Z$/;
const integer = /^-?\d+$/;
const eightDigits = /^\d{8}$/;

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

/** S3's `…Bytes` error fields: each byte in hex, space-separated. */
function hexBytes(bytes: Buffer): string {
  const hex = bytes.toString("hex");
  let out = "";
  for (let i = 0; i < hex.length; i += 2) out += (i === 0 ? "" : " ") + hex.slice(i, i + 2);
  return out;
}
