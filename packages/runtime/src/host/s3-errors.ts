import { NimbusError } from "@nimbus/core";
import { showKey } from "../bucket-error.ts";

/** The codes a bucket fails with when its S3 store, not the caller, is at fault. */
export type S3StoreErrorCode =
  /** The store refused the credentials or their rights (AccessDenied, InvalidAccessKeyId, SignatureDoesNotMatch). */
  | "NIMBUS_BUCKET_STORE_ACCESS"
  /** The physical bucket does not exist in the store (NoSuchBucket). */
  | "NIMBUS_BUCKET_STORE_NO_BUCKET"
  /** The store could not be reached: refused, reset, timed out, unknown host. */
  | "NIMBUS_BUCKET_STORE_UNREACHABLE"
  /** Any other failure the store answered with. */
  | "NIMBUS_BUCKET_STORE";

/** Where a failed call went, for messages: `bucket "uploads" (store bucket "app-uploads" at http://…)`. */
export interface S3Place {
  /** The bucket's name in the app. */
  name: string;
  /** The bucket's physical name in the store. */
  bucket: string;
  endpoint: string;
}

/** What an error from `@aws-sdk/client-s3` tells: S3's error code and HTTP status. */
export interface S3Failure {
  code: string;
  status: number | undefined;
  message: string;
}

/** The S3 error code and status of an SDK error, or undefined for one that never reached a store. */
export function s3Failure(error: unknown): S3Failure | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { name, message, $metadata } = error as {
    name?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: number };
  };
  const status = $metadata?.httpStatusCode;
  if (status === undefined || typeof name !== "string") return undefined;
  return { code: name, status, message: typeof message === "string" ? message : "" };
}

const accessCodes = new Set([
  "AccessDenied",
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "InvalidToken",
  "ExpiredToken",
  "TokenRefreshRequired",
]);

/**
 * A failure of the store as a NimbusError that names the bucket, the operation and the
 * endpoint, and says what to check.
 */
export function storeError(place: S3Place, operation: string, key: string | undefined, error: unknown): NimbusError {
  const where = `bucket "${place.name}"${key === undefined ? "" : `, key ${showKey(key)}`}: ${operation} on store bucket "${place.bucket}" at ${place.endpoint}`;
  const failure = s3Failure(error);
  if (!failure) {
    const reason = networkReason(error);
    return new NimbusError(
      "NIMBUS_BUCKET_STORE_UNREACHABLE",
      `${where} failed: the store could not be reached (${reason}). Check that the store is running and that the function's store endpoint is right.`,
      { cause: error, kind: "system" },
    );
  }
  const said = `${failure.code}${failure.status === undefined ? "" : ` (HTTP ${failure.status})`}${failure.message && failure.message !== failure.code ? `: ${failure.message}` : ""}`;
  if (accessCodes.has(failure.code) || failure.status === 401 || failure.status === 403) {
    return new NimbusError(
      "NIMBUS_BUCKET_STORE_ACCESS",
      `${where} was refused: ${said}. Check the function's store credentials (access key and secret) and that they may use this bucket.`,
      { cause: error },
    );
  }
  if (failure.code === "NoSuchBucket") {
    return new NimbusError(
      "NIMBUS_BUCKET_STORE_NO_BUCKET",
      `${where} failed: the store has no such bucket. Create it, or check the bucket name the function was deployed with.`,
      { cause: error },
    );
  }
  return new NimbusError(
    "NIMBUS_BUCKET_STORE",
    `${where} failed: ${said}. Check the store's logs; the request can be retried if the store was briefly unavailable.`,
    { cause: error, kind: failure.status !== undefined && failure.status >= 500 ? "system" : "user" },
  );
}

function networkReason(error: unknown): string {
  const codes: string[] = [];
  let current: unknown = error;
  // Node puts the socket's code on the error or on its cause (fetch, AggregateError).
  for (let depth = 0; current && typeof current === "object" && depth < 4; depth++) {
    const { code, message, cause, errors } = current as {
      code?: unknown;
      message?: unknown;
      cause?: unknown;
      errors?: unknown[];
    };
    if (typeof code === "string") codes.push(code);
    else if (depth === 0 && typeof message === "string" && message) codes.push(message);
    current = cause ?? errors?.[0];
  }
  return [...new Set(codes)].join(", ") || String(error);
}
