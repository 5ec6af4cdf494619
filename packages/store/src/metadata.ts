import { bucketLimits } from "@nimbus/core";
import { bucketError } from "./errors.ts";

export type MetadataInput = Record<string, string> | undefined;

/** S3's limit on user metadata: names and values together, in UTF-8 bytes. */
export const maxMetadataBytes = bucketLimits.maxMetadataBytes;
// Metadata travels as `x-amz-meta-<name>` headers, so a name must be a header token.
const headerToken = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

/**
 * User metadata as S3 keeps it: names lower-cased (they are HTTP headers), values as
 * given, at most 2 KiB in all. Returns a fresh object with sorted names.
 */
export function normaliseMetadata(bucket: string, key: string, input: MetadataInput): Record<string, string> {
  if (input === undefined) return {};
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw bucketError(
      "NIMBUS_BUCKET_ARGUMENT",
      bucket,
      key,
      `metadata must be an object of strings; found ${Array.isArray(input) ? "an array" : typeof input}`,
    );
  }
  // A Map, as a plain object already "has" names such as "constructor" and "__proto__".
  const out = new Map<string, string>();
  let bytes = 0;
  for (const [rawName, value] of Object.entries(input)) {
    const name = rawName.toLowerCase();
    if (!headerToken.test(name)) {
      throw bucketError(
        "NIMBUS_BUCKET_ARGUMENT",
        bucket,
        key,
        `metadata name ${JSON.stringify(rawName)} cannot be an HTTP header name; use letters, digits and "-"`,
      );
    }
    if (typeof value !== "string") {
      throw bucketError(
        "NIMBUS_BUCKET_ARGUMENT",
        bucket,
        key,
        `metadata "${rawName}" must be a string; found ${typeof value}. Convert it with String() or JSON.stringify().`,
      );
    }
    if (out.has(name)) {
      throw bucketError(
        "NIMBUS_BUCKET_ARGUMENT",
        bucket,
        key,
        `metadata names are case-insensitive; "${rawName}" is given twice`,
      );
    }
    out.set(name, value);
    bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  if (bytes > maxMetadataBytes) {
    throw bucketError(
      "NIMBUS_BUCKET_ARGUMENT",
      bucket,
      key,
      `metadata is ${bytes} bytes; S3 allows at most ${maxMetadataBytes} (names and values in UTF-8). Store large values in the object instead.`,
    );
  }
  return Object.fromEntries([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
}
