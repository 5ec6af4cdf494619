/**
 * Bodies sent with `Content-Encoding: aws-chunked` (S3's streaming uploads), and the
 * `x-amz-checksum-*` values clients send with a body, in a header or as a trailer.
 *
 * Wire format, after the request headers:
 *
 *     <hex size>[;chunk-signature=<sig>]\r\n<data>\r\n      (repeated)
 *     0[;chunk-signature=<sig>]\r\n
 *     <name>:<value>\r\n                                      (trailers, when x-amz-trailer is set)
 *     [x-amz-trailer-signature:<sig>\r\n]                     (signed streams with trailers)
 *     \r\n
 *
 * The decoder streams: chunk data goes out as views of the network buffers as they arrive,
 * and only chunk headers and trailer lines are ever held. A chunk's signature is checked when
 * its last byte arrives, before that last piece is passed on, so a chunk that arrives in one
 * read never leaves unverified; a larger chunk may have passed on its first pieces when the
 * stream errors. The consumer must treat an errored stream as a failed upload and keep none
 * of it (as it must for a client that disconnects).
 */

import { createHash, type Hash } from "node:crypto";
import { crc32 } from "node:zlib";
import { S3Error } from "./s3-error.ts";
import { emptySha256, hmacHex, sameSignature } from "./sigv4.ts";

/** What a signed aws-chunked body chains from; a `VerifiedRequest` has all of it. */
export interface ChunkSigning {
  signingKey: Buffer;
  scope: string;
  amzDate: string;
  seedSignature: string;
}

export interface AwsChunkedOptions {
  /** Chunk signatures to check (`STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]`); unsigned when absent. */
  signed?: ChunkSigning;
  /** Whether trailers follow the last chunk (the `…-TRAILER` payload modes). */
  trailer: boolean;
  /** `x-amz-decoded-content-length`: the decoded body must be exactly this long. */
  decodedLength?: number;
  /**
   * The smallest size of any chunk but the last, as S3 enforces (`InvalidChunkSizeError`).
   * Default 8192, S3's; 0 accepts any size.
   */
  minChunkSize?: number;
}

/** S3's smallest chunk, except for the last one. */
export const minChunkSize = 8192;
const maxLineLength = 4096;
const incompleteBody = "The request body terminated unexpectedly";

/**
 * Decodes an aws-chunked body. `stream` yields the object's bytes and errors with an
 * {@link S3Error} on a malformed body (`IncompleteBody`), a wrong chunk or trailer signature
 * (`SignatureDoesNotMatch`), a small chunk (`InvalidChunkSizeError`) or a length that differs
 * from `decodedLength` (`IncompleteBody`). `trailers` resolves, once the body has been read,
 * to the trailers by lower-case name (without `x-amz-trailer-signature`), or rejects with the
 * stream's error.
 */
export function decodeAwsChunked(
  body: ReadableStream<Uint8Array>,
  options: AwsChunkedOptions,
): { stream: ReadableStream<Uint8Array>; trailers: Promise<Record<string, string>> } {
  const decoder = new ChunkDecoder(options);
  const reader = body.getReader();
  let settleTrailers!: { resolve: (t: Record<string, string>) => void; reject: (e: unknown) => void };
  const trailers = new Promise<Record<string, string>>((resolve, reject) => {
    settleTrailers = { resolve, reject };
  });
  // A caller that only reads the stream still sees the error there; this keeps an unread
  // trailers promise from becoming an unhandled rejection.
  trailers.catch(() => {});

  const fail = (controller: ReadableStreamDefaultController<Uint8Array>, error: unknown) => {
    controller.error(error);
    settleTrailers.reject(error);
    reader.cancel(error).catch(() => {});
  };

  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          // A network chunk may hold only framing (a chunk header); a pull that enqueues
          // nothing is not called again, so read on until there is data or the end.
          let enqueued = false;
          while (!enqueued) {
            const result = await reader.read();
            if (result.done) {
              settleTrailers.resolve(decoder.finish());
              controller.close();
              return;
            }
            decoder.push(result.value, (piece) => {
              enqueued = true;
              controller.enqueue(piece);
            });
          }
        } catch (error) {
          fail(controller, error);
        }
      },
      cancel(reason) {
        settleTrailers.reject(reason);
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
  return { stream, trailers };
}

// Decoder states.
const ChunkHeader = 0;
const ChunkData = 1;
const ChunkDataCr = 2;
const ChunkDataLf = 3;
const Trailer = 4;
const Done = 5;
type State =
  | typeof ChunkHeader
  | typeof ChunkData
  | typeof ChunkDataCr
  | typeof ChunkDataLf
  | typeof Trailer
  | typeof Done;

class ChunkDecoder {
  private state: State = ChunkHeader;
  private line = "";
  private remaining = 0;
  private decoded = 0;
  private chunkNumber = 0;
  private previousChunkSize = -1;
  private chunkSignature = "";
  private previousSignature: string;
  private hash: Hash | undefined;
  private readonly trailers = new Map<string, string>();
  private trailerSignature: string | undefined;
  private skippedBlankLine = false;
  private readonly signed: ChunkSigning | undefined;
  private readonly trailer: boolean;
  private readonly decodedLength: number | undefined;
  private readonly minChunkSize: number;

  constructor(options: AwsChunkedOptions) {
    this.signed = options.signed;
    this.trailer = options.trailer;
    this.decodedLength = options.decodedLength;
    this.minChunkSize = options.minChunkSize ?? minChunkSize;
    this.previousSignature = options.signed?.seedSignature ?? "";
  }

  push(buffer: Uint8Array, emit: (piece: Uint8Array) => void): void {
    let i = 0;
    const length = buffer.length;
    while (i < length) {
      switch (this.state) {
        case ChunkHeader:
        case Trailer: {
          const lf = buffer.indexOf(10, i);
          const end = lf < 0 ? length : lf;
          if (this.line.length + (end - i) > maxLineLength) throw framing();
          this.line += latin1(buffer, i, end);
          i = end;
          if (lf < 0) break;
          i++;
          if (!this.line.endsWith("\r")) throw framing();
          const line = this.line.slice(0, -1);
          this.line = "";
          if (this.state === ChunkHeader) this.chunkHeader(line);
          else this.trailerLine(line);
          break;
        }
        case ChunkData: {
          const n = Math.min(this.remaining, length - i);
          const piece = buffer.subarray(i, i + n);
          i += n;
          this.remaining -= n;
          this.decoded += n;
          if (this.decodedLength !== undefined && this.decoded > this.decodedLength) throw lengthMismatch();
          this.hash?.update(piece);
          if (this.remaining === 0) {
            this.endOfChunkData();
            this.state = ChunkDataCr;
          }
          emit(piece);
          break;
        }
        case ChunkDataCr:
          if (buffer[i++] !== 13) throw framing();
          this.state = ChunkDataLf;
          break;
        case ChunkDataLf:
          if (buffer[i++] !== 10) throw framing();
          this.state = ChunkHeader;
          break;
        case Done:
          throw framing();
      }
    }
  }

  /** Called at the end of the body; returns the trailers. */
  finish(): Record<string, string> {
    // `0\r\n\r\n` in a trailer mode without trailers ends on the blank line that was taken
    // for the one AWS's example puts before the trailers.
    const endedWithoutTrailers =
      this.state === Trailer && this.line === "" && this.skippedBlankLine && this.trailers.size === 0;
    if (this.state !== Done && !endedWithoutTrailers) throw framing();
    if (this.decodedLength !== undefined && this.decoded !== this.decodedLength) throw lengthMismatch();
    return Object.fromEntries(this.trailers);
  }

  private chunkHeader(line: string): void {
    const semicolon = line.indexOf(";");
    const hex = semicolon < 0 ? line : line.slice(0, semicolon);
    if (hex.length === 0 || hex.length > 13 || !hexDigits.test(hex)) throw framing();
    const size = Number.parseInt(hex, 16);
    this.chunkNumber++;
    if (size > 0 && this.previousChunkSize >= 0 && this.previousChunkSize < this.minChunkSize) {
      throw new S3Error(
        "InvalidChunkSizeError",
        403,
        `Only the last chunk is allowed to have a size less than ${this.minChunkSize} bytes`,
        {
          Chunk: String(this.chunkNumber),
          BadChunkSize: String(this.previousChunkSize),
        },
      );
    }
    this.previousChunkSize = size;
    if (this.signed !== undefined) {
      const signature = semicolon < 0 ? undefined : chunkSignatureOf(line.slice(semicolon + 1));
      if (signature === undefined) throw framing();
      this.chunkSignature = signature;
      this.hash = createHash("sha256");
    }
    if (size === 0) {
      this.endOfChunkData();
      this.state = Trailer;
    } else {
      this.remaining = size;
      this.state = ChunkData;
    }
  }

  private endOfChunkData(): void {
    const signed = this.signed;
    if (signed === undefined) return;
    const stringToSign = `AWS4-HMAC-SHA256-PAYLOAD\n${signed.amzDate}\n${signed.scope}\n${this.previousSignature}\n${emptySha256}\n${this.hash!.digest("hex")}`;
    this.hash = undefined;
    const expected = hmacHex(signed.signingKey, stringToSign);
    if (!sameSignature(expected, this.chunkSignature)) throw signatureMismatch(stringToSign, this.chunkSignature);
    this.previousSignature = expected;
  }

  private trailerLine(line: string): void {
    if (line === "") {
      // A blank line before any trailer is tolerated: AWS's own example of a signed stream
      // with trailers puts one between the last chunk and the trailers.
      if (this.trailer && !this.skippedBlankLine && this.trailers.size === 0 && this.trailerSignature === undefined) {
        this.skippedBlankLine = true;
        return;
      }
      this.endOfTrailers();
      this.state = Done;
      return;
    }
    if (!this.trailer) throw framing();
    const colon = line.indexOf(":");
    if (colon <= 0) throw framing();
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === "x-amz-trailer-signature") this.trailerSignature = value;
    else this.trailers.set(name, value);
  }

  private endOfTrailers(): void {
    const signed = this.signed;
    if (signed === undefined || !this.trailer) return;
    const names = [...this.trailers.keys()].sort();
    if (names.length === 0 && this.trailerSignature === undefined) return;
    if (this.trailerSignature === undefined) throw framing();
    let canonical = "";
    for (const name of names) canonical += `${name}:${this.trailers.get(name)}\n`;
    const stringToSign = `AWS4-HMAC-SHA256-TRAILER\n${signed.amzDate}\n${signed.scope}\n${this.previousSignature}\n${createHash("sha256").update(canonical).digest("hex")}`;
    const expected = hmacHex(signed.signingKey, stringToSign);
    if (!sameSignature(expected, this.trailerSignature)) throw signatureMismatch(stringToSign, this.trailerSignature);
    this.trailerSignature = undefined;
  }
}

const hexDigits = /^[0-9a-fA-F]+$/;

function chunkSignatureOf(extensions: string): string | undefined {
  for (const extension of extensions.split(";")) {
    const eq = extension.indexOf("=");
    if (eq > 0 && extension.slice(0, eq).trim() === "chunk-signature") return extension.slice(eq + 1).trim();
  }
  return undefined;
}

function latin1(buffer: Uint8Array, start: number, end: number): string {
  return start === end ? "" : Buffer.from(buffer.buffer, buffer.byteOffset + start, end - start).toString("latin1");
}

function framing(): S3Error {
  return new S3Error("IncompleteBody", 400, incompleteBody);
}

function lengthMismatch(): S3Error {
  return new S3Error(
    "IncompleteBody",
    400,
    "You did not provide the number of bytes specified by the Content-Length HTTP header.",
  );
}

function signatureMismatch(stringToSign: string, provided: string): S3Error {
  return new S3Error(
    "SignatureDoesNotMatch",
    403,
    "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    { StringToSign: stringToSign, SignatureProvided: provided },
  );
}

// ---------------------------------------------------------------------------------------
// Checksums

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
