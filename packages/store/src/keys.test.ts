import { NimbusError } from "@nimbus/core";
import { describe, expect, test } from "vitest";
import {
  compareBytes,
  indexOfBytes,
  keyBytes,
  keyText,
  maxKeyBytes,
  prefixBytes,
  startsWith,
  successor,
} from "./keys.ts";

const bytes = (...values: number[]) => new Uint8Array(values);

function thrown(action: () => unknown): NimbusError {
  try {
    action();
  } catch (error) {
    if (NimbusError.is(error)) return error;
    throw error;
  }
  throw new Error("expected the call to throw");
}

describe("keys", () => {
  test("keyBytes: a key is indexed as its UTF-8 bytes, unnormalised", () => {
    expect(keyBytes("b", "a/é")).toEqual(bytes(0x61, 0x2f, 0xc3, 0xa9));
    expect(keyBytes("b", "e\u0301")).toEqual(bytes(0x65, 0xcc, 0x81));
    expect(keyBytes("b", "😀")).toEqual(bytes(0xf0, 0x9f, 0x98, 0x80));
  });

  test("keyBytes: accepts 1,024 bytes and rejects 1,025, counting bytes rather than characters", () => {
    expect(maxKeyBytes).toBe(1024);
    expect(keyBytes("b", `${"€".repeat(341)}a`).byteLength).toBe(1024);
    const error = thrown(() => keyBytes("photos", `${"€".repeat(341)}ab`));
    expect(error.code).toBe("NIMBUS_BUCKET_KEY");
    expect(error.message).toMatch(/^bucket "photos", key "€+…€+ab": the key is 1,025 bytes of UTF-8/);
  });

  test("keyBytes: an empty key, a lone surrogate or a value that is not a string fails with NIMBUS_BUCKET_KEY", () => {
    for (const key of ["", "\uD800", "x\uDFFF", "\uDC00\uD800"]) {
      const error = thrown(() => keyBytes("photos", key));
      expect(error.code).toBe("NIMBUS_BUCKET_KEY");
      expect(error.message).toContain(`bucket "photos", key ${JSON.stringify(key)}: `);
    }
    const error = thrown(() => keyBytes("photos", 42));
    expect(error.code).toBe("NIMBUS_BUCKET_KEY");
    expect(error.message).toBe('bucket "photos": expected a key as a string; found number');
  });

  test("prefixBytes: may be empty; a lone surrogate fails with NIMBUS_BUCKET_ARGUMENT naming the field", () => {
    expect(prefixBytes("b", "prefix", "")).toEqual(bytes());
    expect(prefixBytes("b", "prefix", "a/")).toEqual(bytes(0x61, 0x2f));
    const error = thrown(() => prefixBytes("b", "delimiter", "\uD800"));
    expect(error.code).toBe("NIMBUS_BUCKET_ARGUMENT");
    expect(error.message).toContain("delimiter");
  });

  test("keyText: decodes what keyBytes encoded and refuses bytes that are not UTF-8", () => {
    for (const key of ["a", "café", "cafe\u0301", "😀/\uFFFD", "\u0000"]) expect(keyText(keyBytes("b", key))).toBe(key);
    expect(() => keyText(bytes(0xff))).toThrow();
  });

  test("successor: is the smallest byte string after every string that starts with the given one", () => {
    expect(successor(bytes(0x61))).toEqual(bytes(0x62));
    expect(successor(bytes(0x61, 0x2f))).toEqual(bytes(0x61, 0x30));
    expect(successor(bytes(0x61, 0xff, 0xff))).toEqual(bytes(0x62));
    expect(successor(bytes(0xff))).toBeUndefined();
    expect(successor(bytes())).toBeUndefined();
    const input = bytes(0x61, 0x62);
    successor(input);
    expect(input).toEqual(bytes(0x61, 0x62));
  });

  test("startsWith: compares bytes at the start", () => {
    expect(startsWith(bytes(1, 2, 3), bytes(1, 2))).toBe(true);
    expect(startsWith(bytes(1, 2, 3), bytes())).toBe(true);
    expect(startsWith(bytes(1, 2), bytes(1, 2, 3))).toBe(false);
    expect(startsWith(bytes(1, 3), bytes(1, 2))).toBe(false);
  });

  test("indexOfBytes: finds the first occurrence at or after an offset; an empty needle is never found", () => {
    const haystack = bytes(1, 2, 1, 2, 1);
    expect(indexOfBytes(haystack, bytes(1, 2), 0)).toBe(0);
    expect(indexOfBytes(haystack, bytes(1, 2), 1)).toBe(2);
    expect(indexOfBytes(haystack, bytes(2, 1), 4)).toBe(-1);
    expect(indexOfBytes(haystack, bytes(1), 4)).toBe(4);
    expect(indexOfBytes(haystack, bytes(), 0)).toBe(-1);
    expect(indexOfBytes(bytes(1), bytes(1, 2), 0)).toBe(-1);
  });

  test("compareBytes: orders by unsigned bytes, so U+FFFD comes before astral characters", () => {
    const order = (a: string, b: string) => Math.sign(compareBytes(keyBytes("b", a), keyBytes("b", b)));
    expect(order("\uFFFD", "😀")).toBe(-1);
    expect(order("a", "ab")).toBe(-1);
    expect(order("\u007F", "\u0080")).toBe(-1);
    expect(order("same", "same")).toBe(0);
    // JavaScript's own comparison disagrees for the first pair, which is why the store compares bytes.
    expect("\uFFFD" < "😀").toBe(false);
  });
});
