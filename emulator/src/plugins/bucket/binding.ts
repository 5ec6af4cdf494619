import type {
  BucketClient,
  BucketConditions,
  BucketGetOptions,
  BucketListOptions,
  BucketListResult,
  BucketObject,
  BucketObjectInfo,
  BucketPresignOptions,
  BucketPutBody,
  BucketPutOptions,
} from "@nimbus/runtime";
import type { BodySource } from "./body-writer.ts";
import { inlineLimit } from "./body-writer.ts";
import { bucketError } from "./errors.ts";
import type { BucketStore, ObjectRecord } from "./store.ts";

/** S3's limit for one DeleteObjects call, which `delete([...])` maps to. */
export const maxDeleteKeys = 1000;

/**
 * The bucket binding over a store opened in the caller's own thread: reads and writes go
 * straight to the bucket's files, with no hop through the emulator. `presign` needs the
 * emulator's signing key, so it is asked of the emulator. `changed` is called, and
 * awaited, after a write that recorded a change for the bucket's notifications, so the
 * emulator puts the events on their buses before the write returns.
 */
export function bucketClient(
  bucket: string,
  open: () => BucketStore,
  presign: (key: string, options: BucketPresignOptions) => Promise<string>,
  changed?: () => Promise<void>,
): BucketClient {
  // Opened on first use, so a worker that never touches the bucket never opens its index.
  let opened: BucketStore | undefined;
  const store = () => {
    opened ??= open();
    return opened;
  };
  // The count is compared across the write: another write in flight may add to it too,
  // which costs an extra call but never misses one.
  const notify = async (target: BucketStore, before: number) => {
    if (changed && target.changesRecorded !== before) await changed();
  };
  return {
    async get(key: string, options: BucketGetOptions = {}): Promise<BucketObject | null> {
      const result = await store().get(key, { range: options.range, onlyIf: conditions(bucket, options.onlyIf) });
      if (result.status !== "ok") return null;
      return bucketObject(bucket, result.object, result.body, options.range ? result.range : undefined);
    },
    async put(key: string, body: BucketPutBody, options: BucketPutOptions = {}): Promise<BucketObjectInfo> {
      const source = await bodySource(bucket, key, body);
      const target = store();
      const before = target.changesRecorded;
      const record = await target.put(key, source, {
        contentType: options.contentType,
        metadata: options.metadata,
        onlyIf: conditions(bucket, options.onlyIf),
      });
      await notify(target, before);
      return info(record);
    },
    async head(key: string): Promise<BucketObjectInfo | null> {
      const record = store().head(key);
      return record ? info(record) : null;
    },
    async delete(keys: string | string[]): Promise<void> {
      const all = Array.isArray(keys) ? keys : [keys];
      if (all.length > maxDeleteKeys) {
        throw bucketError(
          "NIMBUS_BUCKET_ARGUMENT",
          bucket,
          undefined,
          `delete takes at most ${maxDeleteKeys} keys at once (as S3's DeleteObjects); found ${all.length}. Delete in batches.`,
        );
      }
      const target = store();
      const before = target.changesRecorded;
      target.delete(all);
      await notify(target, before);
    },
    async list(options: BucketListOptions = {}): Promise<BucketListResult> {
      const page = store().list(options);
      return {
        objects: page.objects.map(({ key, size, etag, uploaded }) => ({
          key,
          size,
          etag,
          uploaded: new Date(uploaded),
        })),
        prefixes: page.prefixes,
        truncated: page.truncated,
        ...(page.cursor === undefined ? {} : { cursor: page.cursor }),
      };
    },
    presign(key: string, options: BucketPresignOptions): Promise<string> {
      return presign(key, options);
    },
  };
}

function info(record: ObjectRecord): BucketObjectInfo {
  return {
    key: record.key,
    size: record.size,
    etag: record.etag,
    contentType: record.contentType,
    metadata: { ...record.metadata },
    uploaded: new Date(record.uploaded),
  };
}

/** An object whose body is read once, by the stream or by one of the helpers. */
function bucketObject(
  bucket: string,
  record: ObjectRecord,
  source: Uint8Array | ReadableStream<Uint8Array>,
  range: { offset: number; length: number } | undefined,
): BucketObject {
  let stream: ReadableStream<Uint8Array> | undefined;
  let used = false;
  const take = (): Uint8Array | ReadableStream<Uint8Array> => {
    if (used) {
      throw bucketError(
        "NIMBUS_BUCKET_BODY",
        bucket,
        record.key,
        "the body of this object was already read; call get() again to read it again",
      );
    }
    used = true;
    return stream ?? source;
  };
  const bytes = async (): Promise<Uint8Array> => {
    const body = take();
    if (body instanceof Uint8Array) return body;
    return new Uint8Array(await new Response(body).arrayBuffer());
  };
  return {
    ...info(record),
    ...(range ? { range } : {}),
    get body(): ReadableStream<Uint8Array> {
      if (!stream) {
        stream =
          source instanceof Uint8Array
            ? new ReadableStream({
                start(controller) {
                  if (source.byteLength > 0) controller.enqueue(source);
                  controller.close();
                },
              })
            : source;
      }
      return stream;
    },
    bytes,
    async arrayBuffer() {
      const body = await bytes();
      return body.byteOffset === 0 && body.byteLength === body.buffer.byteLength
        ? (body.buffer as ArrayBuffer)
        : (body.slice().buffer as ArrayBuffer);
    },
    async text() {
      return new TextDecoder().decode(await bytes());
    },
    async json<T>() {
      return JSON.parse(new TextDecoder().decode(await bytes())) as T;
    },
  };
}

async function bodySource(bucket: string, key: string, body: BucketPutBody): Promise<BodySource> {
  if (typeof body === "string") return Buffer.from(body);
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof Blob) return body.size <= inlineLimit ? new Uint8Array(await body.arrayBuffer()) : body.stream();
  if (body instanceof ReadableStream) return body;
  throw bucketError(
    "NIMBUS_BUCKET_ARGUMENT",
    bucket,
    key,
    `put takes a string, an ArrayBuffer, a typed array, a Blob or a ReadableStream; found ${body === null ? "null" : typeof body}`,
  );
}

function conditions(bucket: string, onlyIf: BucketConditions | undefined): BucketConditions | undefined {
  if (onlyIf === undefined) return undefined;
  for (const field of ["uploadedBefore", "uploadedAfter"] as const) {
    const value = onlyIf[field];
    if (value !== undefined && !(value instanceof Date && !Number.isNaN(value.getTime()))) {
      throw bucketError("NIMBUS_BUCKET_ARGUMENT", bucket, undefined, `onlyIf.${field} must be a valid Date`);
    }
  }
  return onlyIf;
}
