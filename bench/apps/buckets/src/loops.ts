/**
 * The measured loops, run inside a handler. Shared word for word by the Nimbus function
 * and the Miniflare Worker (which loads this file with its types stripped), so both sides
 * time the same code; only the clock and the binding differ.
 *
 * Imports nothing: it must run unbundled in workerd.
 */

/** The part of a bucket binding the loops use; Nimbus's BucketClient and Workers' R2Bucket both have it. */
export interface LoopBucket {
  put(key: string, body: Uint8Array | ReadableStream<Uint8Array>): Promise<unknown>;
  get(key: string): Promise<{ arrayBuffer(): Promise<ArrayBuffer>; body: ReadableStream<Uint8Array> } | null>;
}

/** `POST /run`: `count` puts or gets of `size`-byte objects, `inFlight` at a time, over keys `small/0` to `small/<keys - 1>`. */
export interface SmallRun {
  op: "put" | "get";
  count: number;
  inFlight: number;
  size: number;
  keys: number;
}

export interface SmallResult {
  ops: number;
  ms: number;
  opsPerSecond: number;
}

/** `POST /large`: puts one `size`-byte object streamed in `chunk`-byte pieces, then reads it back as a stream. */
export interface LargeRun {
  size: number;
  chunk: number;
}

export interface LargeResult {
  bytes: number;
  putMs: number;
  getMs: number;
}

export async function runSmall(bucket: LoopBucket, run: SmallRun, now: () => number): Promise<SmallResult> {
  const body = filled(run.size);
  let next = 0;
  const lane = async () => {
    while (next < run.count) {
      const key = `small/${next++ % run.keys}`;
      if (run.op === "put") {
        await bucket.put(key, body);
      } else {
        const object = await bucket.get(key);
        if (!object) throw new Error(`get ${key}: missing; run puts over the same keys first`);
        const read = await object.arrayBuffer();
        if (read.byteLength !== run.size) throw new Error(`get ${key}: ${read.byteLength} bytes, not ${run.size}`);
      }
    }
  };
  const started = now();
  await Promise.all(Array.from({ length: run.inFlight }, lane));
  const ms = now() - started;
  return { ops: run.count, ms, opsPerSecond: (run.count / ms) * 1000 };
}

/**
 * `sized` turns the generated stream into one the binding accepts (R2 needs a known
 * length); `sample` is called once per chunk in each direction.
 */
export async function runLarge(
  bucket: LoopBucket,
  run: LargeRun,
  now: () => number,
  options: {
    sized?: (stream: ReadableStream<Uint8Array>, size: number) => ReadableStream<Uint8Array>;
    sample?: (direction: "put" | "get") => void;
  } = {},
): Promise<LargeResult> {
  const sample = options.sample ?? (() => {});
  // One chunk, enqueued again and again: the generator itself holds no more than it.
  const chunk = filled(run.chunk);
  let left = run.size;
  const generated = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        sample("put");
        if (left === 0) {
          controller.close();
          return;
        }
        const piece = left >= chunk.byteLength ? chunk : chunk.subarray(0, left);
        left -= piece.byteLength;
        controller.enqueue(piece);
      },
    },
    { highWaterMark: 0 },
  );
  const putStarted = now();
  await bucket.put("large", options.sized ? options.sized(generated, run.size) : generated);
  const putMs = now() - putStarted;

  const getStarted = now();
  const object = await bucket.get("large");
  if (!object) throw new Error("get large: missing right after its put");
  const reader = object.body.getReader();
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    sample("get");
  }
  const getMs = now() - getStarted;
  if (bytes !== run.size) throw new Error(`get large: read ${bytes} bytes, not ${run.size}`);
  return { bytes, putMs, getMs };
}

/** Bytes that are not all one value, without asking for randomness (capped per call in workerd). */
function filled(size: number): Uint8Array {
  const bytes = new Uint8Array(size);
  let state = 0x9e3779b9;
  for (let i = 0; i < size; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    bytes[i] = state >>> 24;
  }
  return bytes;
}
