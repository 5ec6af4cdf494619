import { bucketLimits, type Chain, type Duration } from "@nimbus/core";
import { bucketError } from "./bucket-error.ts";

/** What a bucket knows about a stored object, without its body. */
export interface BucketObjectInfo {
  key: string;
  /** Bytes. */
  size: number;
  /** Quoted-free ETag: the MD5 hex of the body for single-part objects, `<md5>-<parts>` for multipart. */
  etag: string;
  contentType: string;
  /** User metadata, as S3's `x-amz-meta-*`. */
  metadata: Record<string, string>;
  uploaded: Date;
}

/** A stored object with its body; read the body once, by any of the methods. */
export interface BucketObject extends BucketObjectInfo {
  /** A stream of the body (or of the requested range): large objects never sit whole in memory. */
  body: ReadableStream<Uint8Array>;
  /** The part served when `range` was given: `{ offset, length }` in bytes. */
  range?: { offset: number; length: number };
  text(): Promise<string>;
  json<T = unknown>(): Promise<T>;
  arrayBuffer(): Promise<ArrayBuffer>;
  bytes(): Promise<Uint8Array>;
}

export type BucketRange = { offset: number; length?: number } | { suffix: number };

export interface BucketConditions {
  /** Only if the stored ETag equals this. */
  etagMatches?: string;
  /** Only if the stored ETag differs (`"*"`: only if no object exists). */
  etagDoesNotMatch?: string;
  /** Only if stored before this instant. */
  uploadedBefore?: Date;
  /** Only if stored after this instant. */
  uploadedAfter?: Date;
}

export interface BucketGetOptions {
  range?: BucketRange;
  /** A failed condition makes `get` return `null`. */
  onlyIf?: BucketConditions;
}

export type BucketPutBody = string | ArrayBuffer | ArrayBufferView | Blob | ReadableStream<Uint8Array>;

export interface BucketPutOptions {
  /** @default "application/octet-stream" */
  contentType?: string;
  metadata?: Record<string, string>;
  /** A failed condition makes `put` throw `NIMBUS_BUCKET_PRECONDITION`. */
  onlyIf?: BucketConditions;
}

export interface BucketListOptions {
  prefix?: string;
  /** Groups keys by the text up to this character into `prefixes`, e.g. "/". */
  delimiter?: string;
  /** From a previous truncated result. */
  cursor?: string;
  /** @default 1000 */
  limit?: number;
}

export interface BucketListResult {
  /** In S3's order: by the UTF-8 bytes of the key. */
  objects: Pick<BucketObjectInfo, "key" | "size" | "etag" | "uploaded">[];
  prefixes: string[];
  truncated: boolean;
  /** Set when `truncated`: pass it back to get the next page. */
  cursor?: string;
}

export interface BucketPresignOptions {
  method: "GET" | "PUT";
  /** A duration string, or seconds. */
  expiresIn: Duration | number;
}

/** The binding a function gets in `env` for a linked bucket. Shapes follow Workers' R2. */
export interface BucketClient {
  /** The object, or `null` when it does not exist or a condition failed. */
  get(key: string, options?: BucketGetOptions): Promise<BucketObject | null>;
  put(key: string, body: BucketPutBody, options?: BucketPutOptions): Promise<BucketObjectInfo>;
  head(key: string): Promise<BucketObjectInfo | null>;
  /** Deleting a key that does not exist is not an error. */
  delete(keys: string | string[]): Promise<void>;
  list(options?: BucketListOptions): Promise<BucketListResult>;
  /** A URL anyone can use until it expires, checked for tampering. */
  presign(key: string, options: BucketPresignOptions): Promise<string>;
}

/** What a bucket's storage knows of one object, as a transport reports it. */
export interface BucketRecord {
  key: string;
  size: number;
  etag: string;
  contentType: string;
  metadata: Record<string, string>;
  /** Ms since the epoch. */
  uploaded: number;
}

/** A body as a transport stores it: bytes when they are at hand, else a stream read once. */
export type BucketBodySource = Uint8Array | ReadableStream<Uint8Array>;

/**
 * A bucket's storage as a target reaches it: the emulator's store in the caller's
 * thread, or an S3 API. Arguments arrive checked (keys, the form of a range, conditions);
 * a transport only stores and reads, and refuses only what needs the stored object (a
 * range past its end: {@link rangePastEnd}).
 */
export interface BucketTransport {
  /** The object, or null when it does not exist or a condition failed; `range`: the bytes served. */
  get(
    key: string,
    options: { range?: BucketRange; onlyIf?: BucketConditions },
  ): Promise<{ record: BucketRecord; body: BucketBodySource; range: { offset: number; length: number } } | null>;
  /**
   * Stores the body; a failed condition rejects with `NIMBUS_BUCKET_PRECONDITION`.
   * `chain`: that of the invocation writing, recorded with the change it notifies (absent outside one).
   */
  put(
    key: string,
    body: BucketBodySource,
    options: { contentType?: string; metadata?: Record<string, string>; onlyIf?: BucketConditions; chain?: Chain },
  ): Promise<BucketRecord>;
  head(key: string): Promise<BucketRecord | null>;
  /** At most `maxDeleteKeys` keys; a key that does not exist is not an error. `chain` as for `put`. */
  delete(keys: string[], chain?: Chain): Promise<void>;
  list(options: BucketListOptions): Promise<{
    objects: Pick<BucketRecord, "key" | "size" | "etag" | "uploaded">[];
    prefixes: string[];
    truncated: boolean;
    cursor?: string;
  }>;
  presign(key: string, options: BucketPresignOptions): Promise<string>;
}

/** S3's limit for one DeleteObjects call, which `delete([...])` maps to. */
export const maxDeleteKeys = bucketLimits.maxDeleteKeys;

/** A Blob up to this size is read whole before it is stored: cheaper than a stream for small bodies. */
const wholeBlobLimit = 64 * 1024;

/** The bucket binding over a target's transport: the checks of every argument and the object's read-once body. */
export function bucketClient(
  bucket: string,
  transport: BucketTransport,
  /** The chain of the running invocation (`ChainStorage.getStore`), recorded with the changes it makes. */
  chain: () => Chain | undefined = () => undefined,
): BucketClient {
  return {
    async get(key: string, options: BucketGetOptions = {}): Promise<BucketObject | null> {
      checkKey(bucket, key);
      if (options.range) checkRange(bucket, key, options.range);
      const result = await transport.get(key, { range: options.range, onlyIf: conditions(bucket, options.onlyIf) });
      if (!result) return null;
      return bucketObject(bucket, result.record, result.body, options.range ? result.range : undefined);
    },
    async put(key: string, body: BucketPutBody, options: BucketPutOptions = {}): Promise<BucketObjectInfo> {
      checkKey(bucket, key);
      const record = await transport.put(key, await bodySource(bucket, key, body), {
        contentType: options.contentType,
        metadata: options.metadata,
        onlyIf: conditions(bucket, options.onlyIf),
        chain: chain(),
      });
      return info(record);
    },
    async head(key: string): Promise<BucketObjectInfo | null> {
      checkKey(bucket, key);
      const record = await transport.head(key);
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
      for (const key of all) checkKey(bucket, key);
      await transport.delete(all, chain());
    },
    async list(options: BucketListOptions = {}): Promise<BucketListResult> {
      const page = await transport.list(options);
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
    async presign(key: string, options: BucketPresignOptions): Promise<string> {
      checkKey(bucket, key);
      return transport.presign(key, options);
    },
  };
}

function info(record: BucketRecord): BucketObjectInfo {
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
  record: BucketRecord,
  source: BucketBodySource,
  range: { offset: number; length: number } | undefined,
): BucketObject {
  let stream: ReadableStream<Uint8Array> | undefined;
  let used = false;
  const take = (): BucketBodySource => {
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

async function bodySource(bucket: string, key: string, body: BucketPutBody): Promise<BucketBodySource> {
  if (typeof body === "string") return new TextEncoder().encode(body);
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof Blob)
    return body.size <= wholeBlobLimit ? new Uint8Array(await body.arrayBuffer()) : body.stream();
  if (body instanceof ReadableStream) return body;
  throw bucketError(
    "NIMBUS_BUCKET_ARGUMENT",
    bucket,
    key,
    `put takes a string, an ArrayBuffer, a typed array, a Blob or a ReadableStream; found ${body === null ? "null" : typeof body}`,
  );
}

/**
 * A key every target takes: a non-empty, well-formed string of at most 1,024 bytes of
 * UTF-8 (S3's limit). Checked here, before any transport, so every target refuses the
 * same keys in the same words.
 */
export function checkKey(bucket: string, key: unknown): asserts key is string {
  if (typeof key !== "string") {
    throw bucketError("NIMBUS_BUCKET_KEY", bucket, undefined, `expected a key as a string; found ${typeof key}`);
  }
  if (key.length === 0) {
    throw bucketError("NIMBUS_BUCKET_KEY", bucket, key, "a key cannot be empty. Give the object a name.");
  }
  // A lone surrogate has no UTF-8 form; encoding would replace it and make two keys one.
  if (!key.isWellFormed()) {
    throw bucketError(
      "NIMBUS_BUCKET_KEY",
      bucket,
      key,
      "the key contains a lone UTF-16 surrogate, which has no UTF-8 form. Use well-formed text (String.prototype.toWellFormed()).",
    );
  }
  const bytes = new TextEncoder().encode(key).byteLength;
  if (bytes > bucketLimits.maxKeyBytes) {
    throw bucketError(
      "NIMBUS_BUCKET_KEY",
      bucket,
      key,
      `the key is ${bytes.toLocaleString("en")} bytes of UTF-8; S3 keys are at most ${bucketLimits.maxKeyBytes.toLocaleString("en")}. Use a shorter key.`,
    );
  }
}

/** The form of a range: a suffix of at least one byte, or a whole offset and length of at least 0. */
export function checkRange(bucket: string, key: string, range: BucketRange): void {
  if ("suffix" in range) {
    if (!Number.isInteger(range.suffix) || range.suffix < 1) {
      throw bucketError(
        "NIMBUS_BUCKET_RANGE",
        bucket,
        key,
        `range suffix must be a whole number of bytes above 0; found ${range.suffix}`,
      );
    }
    return;
  }
  const { offset, length } = range;
  if (!Number.isInteger(offset) || offset < 0 || (length !== undefined && (!Number.isInteger(length) || length < 0))) {
    throw bucketError(
      "NIMBUS_BUCKET_RANGE",
      bucket,
      key,
      `range offset and length must be whole numbers of bytes, at least 0; found ${JSON.stringify(range)}`,
    );
  }
}

/** A transport's refusal of a range that starts past the object's end, in every target's words. */
export function rangePastEnd(bucket: string, key: string, offset: number, size: number, cause?: unknown) {
  return bucketError(
    "NIMBUS_BUCKET_RANGE",
    bucket,
    key,
    `range offset ${offset} is past the end of the object (${size} bytes)`,
    cause,
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
