/**
 * The `x-amz-checksum-*` values clients send with a body, in a header or as an
 * aws-chunked trailer, and the checksums to verify them: CRC32 (the SDKs' default),
 * CRC32C, CRC64NVME, SHA1, SHA256 (and SHA512, MD5).
 */

import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { S3Error } from "./s3-error.ts";

/** The `x-amz-checksum-*` algorithms the emulator computes. CRC32 is the SDKs' default. */
export type ChecksumAlgorithm = "crc32" | "crc32c" | "crc64nvme" | "sha1" | "sha256" | "sha512" | "md5";

const checksumAlgorithms: readonly ChecksumAlgorithm[] = [
  "crc32",
  "crc32c",
  "crc64nvme",
  "sha1",
  "sha256",
  "sha512",
  "md5",
];
/** Algorithms S3 accepts that the emulator does not compute; a request naming one is refused, never accepted unchecked. */
const unsupportedAlgorithms = ["xxhash64", "xxhash3", "xxhash128"];
const digestLengths: Record<ChecksumAlgorithm, number> = {
  crc32: 4,
  crc32c: 4,
  crc64nvme: 8,
  sha1: 20,
  sha256: 32,
  sha512: 64,
  md5: 16,
};

/** An incremental checksum over a body; `digestBase64` gives it as S3 writes it. */
export interface ChecksumVerifier {
  update(chunk: Uint8Array): void;
  digestBase64(): string;
}

/** A running checksum of `algorithm`. */
export function checksumVerifier(algorithm: ChecksumAlgorithm): ChecksumVerifier {
  switch (algorithm) {
    case "crc32": {
      let value = 0;
      return {
        update: (chunk) => {
          value = crc32(chunk, value);
        },
        digestBase64: () => uint32Base64(value),
      };
    }
    case "crc32c": {
      let value = 0xffffffff;
      return {
        update: (chunk) => {
          value = crc32cUpdate(value, chunk);
        },
        digestBase64: () => uint32Base64(~value >>> 0),
      };
    }
    case "crc64nvme": {
      const state = new Uint32Array([0xffffffff, 0xffffffff]);
      return {
        update: (chunk) => crc64nvmeUpdate(state, chunk),
        digestBase64: () => {
          const out = Buffer.allocUnsafe(8);
          out.writeUInt32BE(~state[1]! >>> 0, 0);
          out.writeUInt32BE(~state[0]! >>> 0, 4);
          return out.toString("base64");
        },
      };
    }
    default: {
      const hash = createHash(algorithm);
      return {
        update: (chunk) => {
          hash.update(chunk);
        },
        digestBase64: () => hash.digest("base64"),
      };
    }
  }
}

function uint32Base64(value: number): string {
  const out = Buffer.allocUnsafe(4);
  out.writeUInt32BE(value >>> 0, 0);
  return out.toString("base64");
}

// CRC-32C (Castagnoli), reflected polynomial 0x82f63b78, slice-by-8.
const crc32cTable = (() => {
  const table = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) {
      const previous = table[(s - 1) * 256 + i]!;
      table[s * 256 + i] = (previous >>> 8) ^ table[previous & 0xff]!;
    }
  }
  return table;
})();

function crc32cUpdate(crc: number, data: Uint8Array): number {
  const t = crc32cTable;
  let i = 0;
  const end8 = data.length - (data.length % 8);
  while (i < end8) {
    const lo = crc ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    crc =
      t[1792 + (lo & 0xff)]! ^
      t[1536 + ((lo >>> 8) & 0xff)]! ^
      t[1280 + ((lo >>> 16) & 0xff)]! ^
      t[1024 + (lo >>> 24)]! ^
      t[768 + data[i + 4]!]! ^
      t[512 + data[i + 5]!]! ^
      t[256 + data[i + 6]!]! ^
      t[data[i + 7]!]!;
    i += 8;
  }
  while (i < data.length) crc = (crc >>> 8) ^ t[(crc ^ data[i++]!) & 0xff]!;
  return crc >>> 0;
}

// CRC-64/NVME, reflected polynomial 0x9a6c9329ac4bc9b5, slice-by-8; 64-bit values as two
// 32-bit halves so no BigInt is touched per byte.
const crc64Tables = (() => {
  const lo = new Uint32Array(8 * 256);
  const hi = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let l = i;
    let h = 0;
    for (let k = 0; k < 8; k++) {
      const carry = l & 1;
      l = ((l >>> 1) | (h << 31)) >>> 0;
      h >>>= 1;
      if (carry) {
        l = (l ^ 0xac4bc9b5) >>> 0;
        h = (h ^ 0x9a6c9329) >>> 0;
      }
    }
    lo[i] = l;
    hi[i] = h;
  }
  for (let i = 0; i < 256; i++) {
    for (let s = 1; s < 8; s++) {
      const pl = lo[(s - 1) * 256 + i]!;
      const ph = hi[(s - 1) * 256 + i]!;
      const index = pl & 0xff;
      lo[s * 256 + i] = (((pl >>> 8) | (ph << 24)) ^ lo[index]!) >>> 0;
      hi[s * 256 + i] = ((ph >>> 8) ^ hi[index]!) >>> 0;
    }
  }
  return { lo, hi };
})();

/** `state` is [low 32 bits, high 32 bits] of the running (not yet inverted) CRC. */
function crc64nvmeUpdate(state: Uint32Array, data: Uint8Array): void {
  const { lo: tl, hi: th } = crc64Tables;
  let l = state[0]!;
  let h = state[1]!;
  let i = 0;
  const end8 = data.length - (data.length % 8);
  while (i < end8) {
    const a = l ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    const b = h ^ (data[i + 4]! | (data[i + 5]! << 8) | (data[i + 6]! << 16) | (data[i + 7]! << 24));
    const i7 = 1792 + (a & 0xff);
    const i6 = 1536 + ((a >>> 8) & 0xff);
    const i5 = 1280 + ((a >>> 16) & 0xff);
    const i4 = 1024 + (a >>> 24);
    const i3 = 768 + (b & 0xff);
    const i2 = 512 + ((b >>> 8) & 0xff);
    const i1 = 256 + ((b >>> 16) & 0xff);
    const i0 = b >>> 24;
    l = tl[i7]! ^ tl[i6]! ^ tl[i5]! ^ tl[i4]! ^ tl[i3]! ^ tl[i2]! ^ tl[i1]! ^ tl[i0]!;
    h = th[i7]! ^ th[i6]! ^ th[i5]! ^ th[i4]! ^ th[i3]! ^ th[i2]! ^ th[i1]! ^ th[i0]!;
    i += 8;
  }
  while (i < data.length) {
    const index = (l ^ data[i++]!) & 0xff;
    l = ((l >>> 8) | (h << 24)) ^ tl[index]!;
    h = (h >>> 8) ^ th[index]!;
  }
  state[0] = l >>> 0;
  state[1] = h >>> 0;
}

/** The checksum a request asks S3 to verify, and where its expected value comes from. */
export interface RequestChecksum {
  algorithm: ChecksumAlgorithm;
  /** The header or trailer carrying it, `x-amz-checksum-crc32`. */
  name: string;
  location: "header" | "trailer";
  /** Feeds decoded body bytes to the checksum. */
  update(chunk: Uint8Array): void;
  /**
   * After the whole body: resolves to the base64 value (to store with the object), or rejects
   * with S3's `BadDigest` when the body does not match, or `InvalidRequest` when a declared
   * trailer is missing or malformed.
   */
  verify(): Promise<string>;
}

const upperNames: Record<ChecksumAlgorithm, string> = {
  crc32: "CRC32",
  crc32c: "CRC32C",
  crc64nvme: "CRC64NVME",
  sha1: "SHA1",
  sha256: "SHA256",
  sha512: "SHA512",
  md5: "MD5",
};
const base64Pattern = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Which `x-amz-checksum-*` the request carries: a header (`x-amz-checksum-crc32: …`) or a
 * trailer declared in `x-amz-trailer`, whose value comes from `trailers` (the promise
 * {@link decodeAwsChunked} returns). Undefined when the request has none. Throws S3's
 * `InvalidRequest` for contradictory or malformed checksum headers, and `NotImplemented` for
 * an algorithm S3 knows but the emulator does not compute.
 * (`x-amz-checksum-algorithm`, `-type` and `-mode` are other headers, not checksums.)
 */
export function requestChecksum(
  headers: Headers,
  trailers?: Promise<Record<string, string>>,
): RequestChecksum | undefined {
  const found: { algorithm: ChecksumAlgorithm; value: string }[] = [];
  for (const algorithm of checksumAlgorithms) {
    const value = headers.get(`x-amz-checksum-${algorithm}`);
    if (value !== null) found.push({ algorithm, value });
  }
  for (const algorithm of unsupportedAlgorithms) {
    if (headers.has(`x-amz-checksum-${algorithm}`)) throw unsupported(algorithm);
  }
  const declared = (headers.get("x-amz-trailer") ?? "")
    .split(",")
    .map((name) => name.trim().toLowerCase())
    .filter((name) => name !== "");
  const trailerAlgorithms: ChecksumAlgorithm[] = [];
  for (const name of declared) {
    const algorithm = name.startsWith("x-amz-checksum-") ? name.slice("x-amz-checksum-".length) : undefined;
    if (algorithm !== undefined && unsupportedAlgorithms.includes(algorithm)) throw unsupported(algorithm);
    if (algorithm === undefined || !(checksumAlgorithms as readonly string[]).includes(algorithm)) {
      throw new S3Error(
        "InvalidRequest",
        400,
        `The value specified in the x-amz-trailer header is not supported: ${name}`,
      );
    }
    trailerAlgorithms.push(algorithm as ChecksumAlgorithm);
  }
  if (found.length + trailerAlgorithms.length > 1) {
    throw new S3Error(
      "InvalidRequest",
      400,
      "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
    );
  }

  const sdkAlgorithm = headers.get("x-amz-sdk-checksum-algorithm")?.toLowerCase();
  if (sdkAlgorithm !== undefined) {
    if (unsupportedAlgorithms.includes(sdkAlgorithm)) throw unsupported(sdkAlgorithm);
    if (!(checksumAlgorithms as readonly string[]).includes(sdkAlgorithm)) {
      throw new S3Error("InvalidRequest", 400, "Value for x-amz-sdk-checksum-algorithm header is invalid.");
    }
    if (found.length + trailerAlgorithms.length === 0) {
      throw new S3Error(
        "InvalidRequest",
        400,
        "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.",
      );
    }
    const named = found[0]?.algorithm ?? trailerAlgorithms[0];
    if (named !== sdkAlgorithm) {
      throw new S3Error("InvalidRequest", 400, "Value for x-amz-sdk-checksum-algorithm header is invalid.");
    }
  }

  const header = found[0];
  if (header !== undefined) {
    const name = `x-amz-checksum-${header.algorithm}`;
    if (!validChecksum(header.algorithm, header.value)) {
      throw new S3Error("InvalidRequest", 400, `Value for ${name} header is invalid.`);
    }
    return checksumCheck(header.algorithm, name, "header", Promise.resolve(header.value));
  }
  const algorithm = trailerAlgorithms[0];
  if (algorithm === undefined) return undefined;
  const name = `x-amz-checksum-${algorithm}`;
  if (trailers === undefined) {
    throw new S3Error(
      "InvalidRequest",
      400,
      "The x-amz-trailer header is only supported with an aws-chunked body whose x-amz-content-sha256 is STREAMING-UNSIGNED-PAYLOAD-TRAILER or STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER.",
    );
  }
  const expected = trailers.then((received) => {
    const value = received[name];
    if (value === undefined) {
      throw new S3Error("InvalidRequest", 400, `The ${name} trailer declared in x-amz-trailer was not sent.`);
    }
    if (!validChecksum(algorithm, value))
      throw new S3Error("InvalidRequest", 400, `Value for ${name} trailing header is invalid.`);
    return value;
  });
  expected.catch(() => {});
  return checksumCheck(algorithm, name, "trailer", expected);
}

function checksumCheck(
  algorithm: ChecksumAlgorithm,
  name: string,
  location: "header" | "trailer",
  expected: Promise<string>,
): RequestChecksum {
  const verifier = checksumVerifier(algorithm);
  return {
    algorithm,
    name,
    location,
    update: (chunk) => verifier.update(chunk),
    verify: async () => {
      const value = await expected;
      if (verifier.digestBase64() !== value) {
        throw new S3Error(
          "BadDigest",
          400,
          `The ${upperNames[algorithm]} you specified did not match the calculated checksum.`,
        );
      }
      return value;
    },
  };
}

function validChecksum(algorithm: ChecksumAlgorithm, value: string): boolean {
  return (
    base64Pattern.test(value) &&
    value.length % 4 === 0 &&
    Buffer.from(value, "base64").length === digestLengths[algorithm]
  );
}

function unsupported(algorithm: string): S3Error {
  return new S3Error(
    "NotImplemented",
    501,
    `The ${algorithm.toUpperCase()} checksum algorithm is not supported by the Nimbus emulator; use CRC32 (the SDKs' default), CRC32C, CRC64NVME, SHA1, SHA256, SHA512 or MD5.`,
  );
}
