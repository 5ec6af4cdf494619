import { closeSync, openSync, read } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";

const readAt = promisify(read);
const chunkSize = 256 * 1024;

/** One file of an object's body, in order: the whole body, or one part of a multipart object. */
export interface BlobRef {
  id: string;
  size: number;
}

/** Open descriptors of a stream nobody finished reading are closed when the stream is collected. */
const abandoned = new FinalizationRegistry<number[]>((fds) => {
  for (const fd of fds) closeQuietly(fd);
});

/**
 * Opens every blob of a body at once, so the body stays readable even if the object is
 * replaced and its files unlinked meanwhile. Throws ENOENT when a blob is already gone:
 * the caller looks the object up again.
 */
export function openBlobs(blobsDir: string, blobs: readonly BlobRef[]): number[] {
  const fds: number[] = [];
  try {
    for (const blob of blobs) fds.push(openSync(join(blobsDir, blob.id), "r"));
  } catch (error) {
    for (const fd of fds) closeQuietly(fd);
    throw error;
  }
  return fds;
}

/** A stream of `length` bytes from `offset` across the opened blobs; never more than one chunk in memory. */
export function blobStream(
  fds: number[],
  blobs: readonly BlobRef[],
  offset: number,
  length: number,
): ReadableStream<Uint8Array> {
  let part = 0;
  let position = offset;
  while (part < blobs.length && position >= blobs[part]!.size) {
    position -= blobs[part]!.size;
    part++;
  }
  let remaining = length;
  const token = {};
  const close = () => {
    abandoned.unregister(token);
    for (const fd of fds.splice(0)) closeQuietly(fd);
  };
  const stream = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          while (remaining > 0 && part < blobs.length && position >= blobs[part]!.size) {
            part++;
            position = 0;
          }
          if (remaining === 0 || part >= blobs.length) {
            close();
            controller.close();
            return;
          }
          const want = Math.min(chunkSize, remaining, blobs[part]!.size - position);
          const buffer = Buffer.allocUnsafe(want);
          const { bytesRead } = await readAt(fds[part]!, buffer, 0, want, position);
          if (bytesRead === 0) throw new Error(`blob ${blobs[part]!.id} is shorter than its recorded size`);
          position += bytesRead;
          remaining -= bytesRead;
          controller.enqueue(bytesRead === want ? buffer : buffer.subarray(0, bytesRead));
        } catch (error) {
          close();
          controller.error(error);
        }
      },
      cancel() {
        close();
      },
    },
    { highWaterMark: 0 },
  );
  abandoned.register(stream, fds, token);
  return stream;
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // Already closed.
  }
}
