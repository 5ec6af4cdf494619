/**
 * Bodies sent with `Content-Encoding: aws-chunked` (S3's streaming uploads); the
 * checksums that come with them are in checksums.ts.
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
