import { createHash, randomBytes } from "node:crypto";
import { open, rm } from "node:fs/promises";
import { join } from "node:path";

/** Bodies up to this size live in the index row itself: one SQLite write, no file. */
export const inlineLimit = 64 * 1024;
/** Chunks are gathered to about this size before they are written, to save system calls. */
const writeBatch = 1024 * 1024;

export type BodySource = Uint8Array | ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** A body taken in: small ones as bytes, larger ones in a blob file of their own. */
export interface ReceivedBody {
  size: number;
  md5: Buffer;
  inline?: Uint8Array;
  /** The id of the blob file in the bucket's `blobs/` folder. */
  blob?: string;
}

export class BodyTooLarge extends Error {}

/** A fresh blob id: random, so a file name never comes from a key. */
export function newBlobId(): string {
  return randomBytes(16).toString("hex");
}

/**
 * Reads a body to its end, hashing it as it goes. A body over `inlineLimit` is written
 * to `blobs/<new id>`; nothing points at that file until the caller commits a row, so
 * a failure or a kill leaves only a file that the next start sweeps away. `durable`
 * fsyncs the file before it is closed; the caller syncs the folder ({@link syncDir}).
 */
export async function receiveBody(
  source: BodySource,
  blobsDir: string,
  maxSize: number,
  durable = false,
): Promise<ReceivedBody> {
  const hash = createHash("md5");
  if (source instanceof Uint8Array) {
    if (source.byteLength > maxSize) throw new BodyTooLarge();
    hash.update(source);
    if (source.byteLength <= inlineLimit) return { size: source.byteLength, md5: hash.digest(), inline: source };
    return writeBlob([source], emptyIterator(), blobsDir, hash, source.byteLength, maxSize, durable);
  }
  const iterator = (source as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await iterator.next();
    if (done) break;
    const chunk = asBytes(value);
    hash.update(chunk);
    head.push(chunk);
    size += chunk.byteLength;
    if (size > maxSize) {
      await iterator.return?.();
      throw new BodyTooLarge();
    }
    if (size > inlineLimit) return writeBlob(head, iterator, blobsDir, hash, size, maxSize, durable);
  }
  return { size, md5: hash.digest(), inline: head.length === 1 ? head[0]! : Buffer.concat(head, size) };
}

async function writeBlob(
  head: Uint8Array[],
  rest: AsyncIterator<Uint8Array>,
  blobsDir: string,
  hash: ReturnType<typeof createHash>,
  headSize: number,
  maxSize: number,
  durable: boolean,
): Promise<ReceivedBody> {
  const blob = newBlobId();
  const path = join(blobsDir, blob);
  const file = await open(path, "wx");
  let size = headSize;
  // One write is in flight while the next batch is read and hashed: the disk and the
  // MD5 take turns otherwise, and MD5 alone runs at about the disk's speed.
  let writing: Promise<unknown> = Promise.resolve();
  try {
    let batch = head;
    let batchSize = headSize;
    for (;;) {
      if (batchSize >= writeBatch) {
        await writing;
        writing = file.writev(batch);
        batch = [];
        batchSize = 0;
      }
      const { done, value } = await rest.next();
      if (done) break;
      const chunk = asBytes(value);
      hash.update(chunk);
      batch.push(chunk);
      batchSize += chunk.byteLength;
      size += chunk.byteLength;
      if (size > maxSize) {
        await rest.return?.();
        throw new BodyTooLarge();
      }
    }
    await writing;
    if (batch.length > 0) await file.writev(batch);
    if (durable) await file.sync();
    await file.close();
  } catch (error) {
    await writing.catch(() => {});
    await file.close().catch(() => {});
    await rm(path, { force: true });
    throw error;
  }
  return { size, md5: hash.digest(), blob };
}

/**
 * Makes the entries of `dir` (a file created, linked or renamed in it) survive power
 * loss: a file's own fsync does not cover the name that points at it.
 */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, "r");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function asBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return Buffer.from(value);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError(`a body stream must yield bytes (Uint8Array); it yielded ${typeof value}`);
}

async function* emptyGenerator(): AsyncGenerator<Uint8Array> {}
function emptyIterator(): AsyncIterator<Uint8Array> {
  return emptyGenerator();
}
