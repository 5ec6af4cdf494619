import { createHmac, timingSafeEqual } from "node:crypto";
import { NimbusError, parseDuration } from "@nimbus/core";
import { z } from "zod";
import { bucketError } from "./errors.ts";
import { keyBytes } from "./keys.ts";

/** The longest a presigned URL may live: S3's limit for SigV4 URLs. */
export const maxPresignSeconds = 7 * 24 * 60 * 60;

/** Where presigned URLs are served, under the emulator's address. */
export const presignPath = "/_nimbus/buckets";

export const presignRequestSchema = z.strictObject({
  key: z.string(),
  method: z.enum(["GET", "PUT"]),
  expiresIn: z.union([z.string(), z.number()]),
});
export type PresignRequest = z.infer<typeof presignRequestSchema>;

/** A URL for one method on one key, valid until it expires; the signature covers all four. */
export function presignUrl(options: {
  base: string;
  secret: string;
  bucket: string;
  key: string;
  method: "GET" | "PUT";
  /** A duration string or seconds. */
  expiresIn: string | number;
  now: number;
}): string {
  const { bucket, key, method } = options;
  keyBytes(bucket, key);
  const seconds = presignSeconds(bucket, key, options.expiresIn);
  const expires = Math.floor(options.now / 1000) + seconds;
  const url = new URL(`${presignPath}/${bucket}/object`, options.base);
  url.searchParams.set("key", key);
  url.searchParams.set("method", method);
  url.searchParams.set("expires", String(expires));
  url.searchParams.set("signature", signature(options.secret, bucket, key, method, expires));
  return url.href;
}

function presignSeconds(bucket: string, key: string, expiresIn: string | number): number {
  const ms = typeof expiresIn === "number" ? expiresIn * 1000 : parseDuration(String(expiresIn));
  if (ms === undefined || !Number.isFinite(ms) || ms < 1000 || ms > maxPresignSeconds * 1000) {
    throw bucketError(
      "NIMBUS_BUCKET_ARGUMENT",
      bucket,
      key,
      `presign expiresIn must be a duration from 1 second to 7 days (S3's limit), such as "15m" or 900; found ${JSON.stringify(expiresIn)}`,
    );
  }
  return Math.floor(ms / 1000);
}

function signature(secret: string, bucket: string, key: string, method: string, expires: number): string {
  return createHmac("sha256", secret).update(`${method}\n${bucket}\n${key}\n${expires}`).digest("base64url");
}

/** What a presigned request may do, once its URL checks out. */
export interface PresignedAccess {
  bucket: string;
  key: string;
  method: "GET" | "PUT";
}

/**
 * Checks a request against its presigned URL: signed by this emulator, not altered, not
 * expired, and used with the method it was signed for (HEAD goes with GET). Throws a
 * user error saying which check failed.
 */
export function verifyPresigned(request: Request, bucket: string, secret: string, now: number): PresignedAccess {
  const params = new URL(request.url).searchParams;
  const key = params.get("key");
  const method = params.get("method");
  const expires = Number(params.get("expires"));
  const given = params.get("signature") ?? "";
  const denied = (code: string, message: string) => new NimbusError(code, message);
  if (key === null || (method !== "GET" && method !== "PUT") || !Number.isInteger(expires) || !given) {
    throw denied(
      "NIMBUS_PRESIGN_INVALID",
      `This is not a complete presigned URL for bucket "${bucket}": it needs key, method, expires and signature. Use the URL presign() returned, unchanged.`,
    );
  }
  const expected = Buffer.from(signature(secret, bucket, key, method, expires));
  const actual = Buffer.from(given);
  if (expected.byteLength !== actual.byteLength || !timingSafeEqual(expected, actual)) {
    throw denied(
      "NIMBUS_PRESIGN_INVALID",
      `The signature of this presigned URL for bucket "${bucket}" does not match: the URL was altered or signed by another emulator state. Ask for a new one with presign().`,
    );
  }
  if (expires * 1000 <= now) {
    throw denied(
      "NIMBUS_PRESIGN_EXPIRED",
      `This presigned URL for key ${JSON.stringify(key)} in bucket "${bucket}" expired at ${new Date(expires * 1000).toISOString()}. Ask for a new one with presign().`,
    );
  }
  const used = request.method === "HEAD" ? "GET" : request.method;
  if (used !== method) {
    throw denied(
      "NIMBUS_PRESIGN_METHOD",
      `This presigned URL for key ${JSON.stringify(key)} in bucket "${bucket}" was signed for ${method}, not ${request.method}. Presign one for ${request.method}.`,
    );
  }
  return { bucket, key, method };
}
