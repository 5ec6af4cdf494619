import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { type BodySource, inlineLimit } from "../body-writer.ts";
import { decodeAwsChunked } from "./aws-chunked.ts";
import { type RequestChecksum, requestChecksum } from "./checksums.ts";
import { S3Error } from "./s3-error.ts";
import type { VerifiedRequest } from "./sigv4.ts";

/** A request's payload, ready for the store, and the checksum it was verified against. */
export interface Payload {
  body: BodySource;
  /** The `x-amz-checksum-*` the client sent (header or trailer), if any: echoed on success. */
  checksum?: RequestChecksum;
}

/**
 * The request's payload as the store reads it: decoded from `aws-chunked` when it came
 * that way, and checked as it streams against what the client signed (the SHA-256 in
 * `x-amz-content-sha256`, each chunk's signature) and the checksum it sent. A payload
 * that does not check out fails at its end, before the store commits anything.
 */
export async function payloadOf(
  incoming: AsyncIterable<Uint8Array>,
  headers: Headers,
  verified: VerifiedRequest,
  method: string,
): Promise<Payload> {
  const { payload } = verified;
  // GET, HEAD and DELETE carry no payload worth checking; their (empty) body is not read.
  if (method !== "PUT" && method !== "POST") return { body: incoming };
  const length = Number(headers.get("content-length") ?? Number.NaN);
  if (payload.kind === "sha256" && length <= inlineLimit) {
    // A small body is read whole and checked once: the store then takes it as bytes.
    const chunks: Uint8Array[] = [];
    for await (const chunk of incoming) chunks.push(chunk);
    const body = Buffer.concat(chunks);
    const checksum = requestChecksum(headers);
    for await (const _ of checkedSha256([body], payload.hash)) {
      // Checks the hash; the bytes are already in hand.
    }
    if (checksum) {
      checksum.update(body);
      await checksum.verify();
    }
    return { body, checksum };
  }
  let body: AsyncIterable<Uint8Array> = incoming;
  let trailers: Promise<Record<string, string>> | undefined;
  if (payload.kind === "sha256") {
    body = checkedSha256(incoming, payload.hash);
  } else if (payload.kind === "streaming-signed" || payload.kind === "streaming-unsigned-trailer") {
    const decodedLength = headers.get("x-amz-decoded-content-length");
    const decoded = decodeAwsChunked(Readable.toWeb(Readable.from(incoming)) as unknown as ReadableStream<Uint8Array>, {
      signed:
        payload.kind === "streaming-signed"
          ? {
              signingKey: verified.signingKey,
              scope: verified.scope,
              amzDate: verified.amzDate,
              seedSignature: verified.seedSignature,
            }
          : undefined,
      trailer: payload.kind === "streaming-unsigned-trailer" || payload.trailer,
      decodedLength: decodedLength === null ? undefined : Number(decodedLength),
    });
    body = decoded.stream as unknown as AsyncIterable<Uint8Array>;
    trailers = decoded.trailers;
  }
  const checksum = requestChecksum(headers, trailers);
  return { body: checksum ? checkedChecksum(body, checksum) : body, checksum };
}

async function* checkedSha256(
  body: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  expected: string,
): AsyncGenerator<Uint8Array> {
  const hash = createHash("sha256");
  for await (const chunk of body) {
    hash.update(chunk);
    yield chunk;
  }
  const actual = hash.digest("hex");
  if (actual !== expected.toLowerCase()) {
    throw new S3Error(
      "XAmzContentSHA256Mismatch",
      400,
      "The provided 'x-amz-content-sha256' header does not match what was computed.",
      { ClientComputedContentSHA256: expected, S3ComputedContentSHA256: actual },
    );
  }
}

async function* checkedChecksum(
  body: AsyncIterable<Uint8Array>,
  checksum: RequestChecksum,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    checksum.update(chunk);
    yield chunk;
  }
  await checksum.verify();
}
