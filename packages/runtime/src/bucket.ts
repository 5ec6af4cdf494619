import type { Duration } from "@nimbus/core";

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
