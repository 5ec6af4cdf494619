import { NimbusError } from "@nimbus/core";

/** The codes a bucket operation fails with; an S3 endpoint maps each to S3's error. */
export type BucketErrorCode =
  | "NIMBUS_BUCKET_KEY"
  | "NIMBUS_BUCKET_ARGUMENT"
  | "NIMBUS_BUCKET_PRECONDITION"
  | "NIMBUS_BUCKET_SOURCE_PRECONDITION"
  | "NIMBUS_BUCKET_RANGE"
  | "NIMBUS_BUCKET_TOO_LARGE"
  | "NIMBUS_BUCKET_BAD_DIGEST"
  | "NIMBUS_BUCKET_NO_SUCH_KEY"
  | "NIMBUS_BUCKET_NO_SUCH_UPLOAD"
  | "NIMBUS_BUCKET_PART"
  | "NIMBUS_BUCKET_PART_ORDER"
  | "NIMBUS_BUCKET_PART_TOO_SMALL"
  | "NIMBUS_BUCKET_BODY";

/** An error that names the bucket and, when there is one, the key: `bucket "receipts", key "a/b": …`. */
export function bucketError(
  code: BucketErrorCode,
  bucket: string,
  key: string | undefined,
  message: string,
  cause?: unknown,
): NimbusError {
  const where = key === undefined ? `bucket "${bucket}"` : `bucket "${bucket}", key ${showKey(key)}`;
  return new NimbusError(code, `${where}: ${message}`, { cause });
}

/** A key as it appears in messages: quoted, escaped, and cut short when very long. */
export function showKey(key: string): string {
  return JSON.stringify(key.length > 80 ? `${key.slice(0, 60)}…${key.slice(-12)}` : key);
}
