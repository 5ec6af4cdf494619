import { bucketLimits, parseDuration } from "@nimbus/core";
import { bucketError } from "./bucket-error.ts";
import {
  canonicalRequest,
  credentialScope,
  formatAmzDate,
  parseQuery,
  sigV4Algorithm,
  stringToSign,
  uriEncode,
} from "./sigv4.ts";

/** The longest a SigV4 presigned URL may live, in seconds: S3's limit of 7 days. */
export const maxPresignSeconds = bucketLimits.maxPresignExpiry / 1000;

export interface PresignS3UrlOptions {
  /** The S3 endpoint; the URL is path-style under it. @example "http://127.0.0.1:4569" */
  endpoint: string;
  bucket: string;
  key: string;
  /** The one method the URL may be used with; the method is signed, so not even HEAD for GET. */
  method: "GET" | "PUT";
  /** A duration string or seconds, from 1 second to 7 days. @example "15m" */
  expiresIn: string | number;
  credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** The region in the signature's scope. @example "us-east-1" */
  region: string;
  /** When the URL is signed, in ms since the epoch; it expires `expiresIn` after. */
  now: number;
}

/**
 * A SigV4 presigned URL (query-string auth, `UNSIGNED-PAYLOAD`, only `host` signed), the
 * URL `@aws-sdk/s3-request-presigner` makes, so any S3 endpoint honours it. Uses
 * Web Crypto only, so it runs in Node, workers and the deployed host alike. Throws
 * `NIMBUS_BUCKET_ARGUMENT` for an expiry that is not a duration from 1 second to 7 days.
 */
export async function presignS3Url(options: PresignS3UrlOptions): Promise<string> {
  const { bucket, key, method, credentials, region } = options;
  const seconds = presignSeconds(bucket, key, options.expiresIn);
  const base = new URL(options.endpoint);
  const path = `${base.pathname.replace(/\/+$/, "")}/${uriEncode(bucket, false)}/${uriEncode(key, true)}`;
  const amzDate = formatAmzDate(options.now);
  const scope = credentialScope(amzDate, region);
  const query = [
    ["X-Amz-Algorithm", sigV4Algorithm],
    // As the SDK's presigner: S3 assumes it when absent, but saying it costs nothing.
    ["X-Amz-Content-Sha256", "UNSIGNED-PAYLOAD"],
    ["X-Amz-Credential", `${credentials.accessKeyId}/${scope}`],
    ["X-Amz-Date", amzDate],
    ["X-Amz-Expires", String(seconds)],
    ...(credentials.sessionToken === undefined ? [] : [["X-Amz-Security-Token", credentials.sessionToken]]),
    ["X-Amz-SignedHeaders", "host"],
  ]
    .map(([name, value]) => `${name}=${uriEncode(value!, false)}`)
    .join("&");
  const canonical = canonicalRequest({
    method,
    path,
    params: parseQuery(query),
    headers: new Headers({ host: base.host }),
    signedHeaders: ["host"],
    payloadHash: "UNSIGNED-PAYLOAD",
    presigned: true,
  });
  const toSign = stringToSign(amzDate, scope, hex(await crypto.subtle.digest("SHA-256", utf8(canonical))));
  let signingKey: Uint8Array<ArrayBuffer> | ArrayBuffer = utf8(`AWS4${credentials.secretAccessKey}`);
  for (const part of [amzDate.slice(0, 8), region, "s3", "aws4_request"]) signingKey = await hmac(signingKey, part);
  const signature = hex(await hmac(signingKey, toSign));
  return `${base.origin}${path}?${query}&X-Amz-Signature=${signature}`;
}

/** Whole seconds for `expiresIn`, within S3's 1 second to 7 days. */
function presignSeconds(bucket: string, key: string, expiresIn: string | number): number {
  const ms = typeof expiresIn === "number" ? expiresIn * 1000 : parseDuration(String(expiresIn));
  if (ms === undefined || !Number.isFinite(ms) || ms < 1000 || ms > maxPresignSeconds * 1000) {
    throw bucketError(
      "NIMBUS_BUCKET_ARGUMENT",
      bucket,
      key,
      `presign expiresIn must be a duration from 1 second to 7 days (S3's limit, ${maxPresignSeconds} seconds), such as "15m" or 900; found ${JSON.stringify(expiresIn)}`,
    );
  }
  return Math.floor(ms / 1000);
}

async function hmac(key: Uint8Array<ArrayBuffer> | ArrayBuffer, data: string): Promise<ArrayBuffer> {
  const imported = await crypto.subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return crypto.subtle.sign("HMAC", imported, utf8(data));
}

const encoder = new TextEncoder();

function utf8(text: string): Uint8Array<ArrayBuffer> {
  return encoder.encode(text);
}

function hex(bytes: ArrayBuffer): string {
  let out = "";
  for (const b of new Uint8Array(bytes)) out += b.toString(16).padStart(2, "0");
  return out;
}
