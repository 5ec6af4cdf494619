import { bucketLimits } from "@nimbus/core";
import { checkKey } from "@nimbus/runtime/target";
import { bucketError } from "./errors.ts";

/** S3's limit: a key is 1 to 1,024 bytes of UTF-8. */
export const maxKeyBytes = bucketLimits.maxKeyBytes;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * The key's UTF-8 bytes, which are what the store indexes: SQLite compares BLOBs with
 * memcmp, which is S3's listing order. Keys are never used as file names.
 */
export function keyBytes(bucket: string, key: unknown): Uint8Array {
  // The same checks, in the same words, as every binding makes before its transport.
  checkKey(bucket, key);
  return encoder.encode(key);
}

/** A listing prefix or delimiter: like a key, but it may be empty. */
export function prefixBytes(bucket: string, field: string, value: string): Uint8Array {
  if (!value.isWellFormed()) {
    throw bucketError("NIMBUS_BUCKET_ARGUMENT", bucket, undefined, `${field} contains a lone UTF-16 surrogate`);
  }
  return encoder.encode(value);
}

export function keyText(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/**
 * The smallest byte string greater than every string starting with `bytes`, or
 * undefined when there is none. UTF-8 text never contains 0xFF, so for text this is
 * the last byte plus one.
 */
export function successor(bytes: Uint8Array): Uint8Array | undefined {
  const next = bytes.slice();
  for (let i = next.length - 1; i >= 0; i--) {
    if (next[i]! < 0xff) {
      next[i] = next[i]! + 1;
      return next.subarray(0, i + 1);
    }
  }
  return undefined;
}

export function startsWith(bytes: Uint8Array, prefix: Uint8Array): boolean {
  if (prefix.byteLength > bytes.byteLength) return false;
  for (let i = 0; i < prefix.byteLength; i++) if (bytes[i] !== prefix[i]) return false;
  return true;
}

export function indexOfBytes(bytes: Uint8Array, needle: Uint8Array, from: number): number {
  if (needle.byteLength === 0) return -1;
  outer: for (let i = from; i <= bytes.byteLength - needle.byteLength; i++) {
    for (let j = 0; j < needle.byteLength; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}
