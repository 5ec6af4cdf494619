import { createHash, randomUUID } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, rmSync, unlinkSync } from "node:fs";
import { copyFile, link, open, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import {
  type BucketEvent,
  type BucketEventDetail,
  bucketLimits,
  type Chain,
  formatChain,
  parseChain,
} from "@nimbus/core";
import { checkRange, rangePastEnd } from "@nimbus/runtime/target";
import { type BlobRef, blobStream, openBlobs } from "./body-reader.ts";
import { type BodySource, BodyTooLarge, newBlobId, receiveBody, syncDir } from "./body-writer.ts";
import { type ConditionResult, type Conditions, checkConditions } from "./conditions.ts";
import { type BucketErrorCode, bucketError } from "./errors.ts";
import { compareBytes, indexOfBytes, keyBytes, keyText, prefixBytes, startsWith, successor } from "./keys.ts";
import { type MetadataInput, normaliseMetadata } from "./metadata.ts";
import { openDatabase, transactions } from "./sqlite.ts";

/** S3's limit for one PUT; larger objects are uploaded in parts. */
export const maxObjectSize = bucketLimits.maxObjectSize;
/** S3's multipart limits. */
export const maxParts = bucketLimits.maxParts;
export const minPartSize = bucketLimits.minPartSize;

/** What the store knows about an object. */
export interface ObjectRecord {
  key: string;
  size: number;
  /** MD5 hex of the body, or S3's `<md5 of part md5s>-<parts>` for a multipart object. */
  etag: string;
  contentType: string;
  metadata: Record<string, string>;
  /** Standard HTTP headers kept with the object, as S3 keeps them: cache-control, content-disposition, … */
  headers: Record<string, string>;
  /** Milliseconds since the epoch. */
  uploaded: number;
}

export interface PutOptions {
  contentType?: string;
  metadata?: MetadataInput;
  headers?: Record<string, string>;
  onlyIf?: Conditions;
  /** The body's MD5 as the client computed it (S3's Content-MD5, as hex); a mismatch stores nothing. */
  md5?: string;
  /** The chain of the invocation writing, recorded with the change (docs/semantics.md, "Recursive loops"). */
  chain?: Chain;
}

export type GetRange = { offset: number; length?: number } | { suffix: number };

export interface GetOptions {
  range?: GetRange;
  onlyIf?: Conditions;
  /**
   * Only part `part` of a multipart object, as S3's `partNumber` reads it; part 1 of any
   * other object is all of it. A part the object does not have throws
   * `NIMBUS_BUCKET_RANGE`. Not with `range`.
   */
  part?: number;
}

export type GetResult =
  | { status: "missing" }
  | { status: Exclude<ConditionResult, "ok">; object: ObjectRecord }
  | {
      status: "ok";
      object: ObjectRecord;
      /** The bytes served, as `offset` and `length` into the object. */
      range: { offset: number; length: number };
      /** With `part`: how many parts a multipart object has; undefined for any other object. */
      parts?: number;
      /** Small bodies come as bytes; larger ones as a stream that reads the files as it is read. */
      body: Uint8Array | ReadableStream<Uint8Array>;
    };

export interface ListOptions {
  prefix?: string;
  delimiter?: string;
  /** Only keys after this one (S3's StartAfter and Marker). */
  startAfter?: string;
  /** From a previous page's `cursor`. */
  cursor?: string;
  /** Objects plus prefixes per page. @default 1000 */
  limit?: number;
}

export interface ListResult {
  objects: ObjectRecord[];
  prefixes: string[];
  truncated: boolean;
  cursor?: string;
}

export interface UploadRecord {
  id: string;
  key: string;
  contentType: string;
  metadata: Record<string, string>;
  headers: Record<string, string>;
  created: number;
}

/** S3's name for the operation that made a change, as its event notifications give it. */
export type ChangeReason = BucketEventDetail["reason"];

/** One change to which object a key holds, waiting in the bucket's outbox to be notified. */
export interface BucketChange {
  /** Its place in the outbox: changes are read, and notified, in this order. */
  id: number;
  event: BucketEvent;
  reason: ChangeReason;
  key: string;
  /** Size and ETag of the object written, or, for a delete, of the object deleted. */
  size: number;
  etag: string;
  /** When the change was committed, in ms since the epoch. */
  time: number;
  /** The chain of the invocation that made the change; absent for a write from outside one. */
  chain?: Chain;
}

/** What completing a multipart upload answered, kept a while for a client that retries. */
export interface CompletionRecord {
  key: string;
  /** The parts as the completion listed them, ETags unquoted. */
  parts: { number: number; etag: string }[];
  etag: string;
  /** When the upload was completed, in ms since the epoch. */
  completed: number;
}

/**
 * How long a completed upload's id still answers a repeated CompleteMultipartUpload with
 * its result, as S3 does for a client that retries after losing the first answer (S3
 * does not say for how long; it is hours).
 */
export const completionRetentionMs = 24 * 60 * 60 * 1000;

export interface PartRecord {
  number: number;
  size: number;
  etag: string;
  uploaded: number;
}

interface ObjectRow {
  key: Uint8Array;
  size: number;
  etag: string;
  content_type: string;
  metadata: string;
  headers: string;
  uploaded: number;
  body: Uint8Array | null;
  blobs: string | null;
}

const schema = `
CREATE TABLE IF NOT EXISTS objects (
  id INTEGER PRIMARY KEY,
  key BLOB NOT NULL UNIQUE,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  content_type TEXT NOT NULL,
  metadata TEXT NOT NULL,
  headers TEXT NOT NULL,
  uploaded INTEGER NOT NULL,
  body BLOB,
  blobs TEXT
);
CREATE TABLE IF NOT EXISTS uploads (
  id TEXT PRIMARY KEY,
  key BLOB NOT NULL,
  content_type TEXT NOT NULL,
  metadata TEXT NOT NULL,
  headers TEXT NOT NULL,
  created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS parts (
  upload TEXT NOT NULL,
  number INTEGER NOT NULL,
  blob TEXT NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  uploaded INTEGER NOT NULL,
  PRIMARY KEY (upload, number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS completed (
  upload TEXT PRIMARY KEY,
  key BLOB NOT NULL,
  parts TEXT NOT NULL,
  etag TEXT NOT NULL,
  time INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS bucket (created INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS notifying (enabled INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event TEXT NOT NULL,
  reason TEXT NOT NULL,
  key BLOB NOT NULL,
  size INTEGER NOT NULL,
  etag TEXT NOT NULL,
  time INTEGER NOT NULL
);
`;

/**
 * One bucket's objects, durable under `dir`: an SQLite index (`index.sqlite`, WAL) whose
 * rows hold each key as its UTF-8 bytes, the metadata, and either the body itself (up
 * to 64 KiB) or the ids of the files in `blobs/` that hold it. File names are random
 * ids, never keys, so no key can reach outside the folder.
 *
 * Writes take the body in first, then switch the row in one transaction, then unlink
 * the files the old row used: a reader (in any thread or process) sees the old object
 * or the new one, and a kill at any point leaves the old object or the new one plus, at
 * worst, an unreferenced file that the next `open` with `sweep` removes.
 *
 * Any thread may open the same folder; SQLite serialises the writers.
 *
 * While notifications are on (`setNotifying`, a flag kept in the bucket's own database
 * so every thread's store sees it at once), each write that changes which object a key
 * holds also records the change in an outbox table, in the same transaction: a crash
 * never keeps the write and loses the change. The emulator reads the outbox in order
 * (`changes`) and drops what it has notified (`dropChanges`).
 */
export class BucketStore {
  readonly name: string;
  readonly dir: string;
  readonly #blobs: string;
  readonly #db: DatabaseSync;
  readonly #transaction: (work: () => void) => void;
  readonly #now: () => number;
  readonly #onChange: (() => void) | undefined;
  readonly #durable: boolean;
  #changesRecorded = 0;
  readonly #sql: Record<
    | "row"
    | "head"
    | "version"
    | "upsert"
    | "delete"
    | "page"
    | "pageBelow"
    | "upload"
    | "part"
    | "putPart"
    | "parts"
    | "dropUpload"
    | "dropParts"
    | "notifying"
    | "record",
    StatementSync
  >;

  /**
   * Opens (and creates) the bucket in `dir`. With `sweep`, removes files left by an earlier
   * process. `onChange` is called after each write of this instance that recorded a change
   * in the outbox, once it is committed. `durable` makes every write survive power loss
   * before it returns: blob files and their folder are fsynced before the index commit,
   * and the index commits with `synchronous = FULL`.
   */
  constructor(options: {
    name: string;
    dir: string;
    sweep?: boolean;
    now?: () => number;
    onChange?: () => void;
    durable?: boolean;
  }) {
    this.name = options.name;
    this.dir = options.dir;
    this.#blobs = join(options.dir, "blobs");
    this.#now = options.now ?? Date.now;
    this.#onChange = options.onChange;
    this.#durable = options.durable ?? false;
    mkdirSync(this.#blobs, { recursive: true });
    this.#db = openDatabase(join(options.dir, "index.sqlite"), { durable: this.#durable });
    // A new bucket's folders, index and WAL are names in folders: synced once, at open.
    if (this.#durable) for (const dir of [this.#blobs, options.dir, dirname(options.dir)]) syncDirSync(dir);
    this.#transaction = transactions(this.#db);
    this.#db.exec(schema);
    addChainColumn(this.#db);
    this.#db.prepare("INSERT INTO bucket (created) SELECT ? WHERE NOT EXISTS (SELECT 1 FROM bucket)").run(this.#now());
    const columns = "key, size, etag, content_type, metadata, headers, uploaded";
    const prepare = (sql: string) => this.#db.prepare(sql);
    this.#sql = {
      // A rowid table keeps a small body on the row's own page; a WITHOUT ROWID table
      // would spill any body over ~1 KB to an overflow page and read it on every lookup.
      row: prepare(`SELECT ${columns}, body, blobs FROM objects WHERE key = ?`),
      head: prepare(`SELECT ${columns}, blobs FROM objects WHERE key = ?`),
      version: prepare("SELECT etag, uploaded, blobs FROM objects WHERE key = ?"),
      upsert: prepare(
        `INSERT INTO objects (${columns}, body, blobs) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET size = excluded.size, etag = excluded.etag, content_type = excluded.content_type,
           metadata = excluded.metadata, headers = excluded.headers, uploaded = excluded.uploaded, body = excluded.body,
           blobs = excluded.blobs`,
      ),
      delete: prepare("DELETE FROM objects WHERE key = ? RETURNING blobs"),
      page: prepare(`SELECT ${columns} FROM objects WHERE key >= ? ORDER BY key LIMIT ?`),
      pageBelow: prepare(`SELECT ${columns} FROM objects WHERE key >= ? AND key < ? ORDER BY key LIMIT ?`),
      upload: prepare("SELECT * FROM uploads WHERE id = ?"),
      part: prepare("SELECT * FROM parts WHERE upload = ? AND number = ?"),
      putPart: prepare(
        `INSERT INTO parts (upload, number, blob, size, etag, uploaded) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (upload, number) DO UPDATE SET blob = excluded.blob, size = excluded.size, etag = excluded.etag, uploaded = excluded.uploaded`,
      ),
      parts: prepare("SELECT * FROM parts WHERE upload = ? ORDER BY number"),
      dropUpload: prepare("DELETE FROM uploads WHERE id = ?"),
      dropParts: prepare("DELETE FROM parts WHERE upload = ? RETURNING blob"),
      notifying: prepare("SELECT 1 AS enabled FROM notifying LIMIT 1"),
      record: prepare("INSERT INTO outbox (event, reason, key, size, etag, time, chain) VALUES (?, ?, ?, ?, ?, ?, ?)"),
    };
    if (options.sweep) this.#sweep();
  }

  /** When the bucket was first opened, in ms since the epoch. */
  get created(): number {
    return (this.#db.prepare("SELECT created FROM bucket").get() as { created: number }).created;
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /**
   * Turns the recording of changes in the outbox on or off, for every store open on this
   * bucket (in any thread) from their next write on. Changes already recorded stay.
   */
  setNotifying(on: boolean): void {
    // Read first: a reload sets every bucket's flag, and a write would wait on a busy writer.
    if ((this.#sql.notifying.get() !== undefined) === on) return;
    if (on) this.#db.exec("INSERT INTO notifying (enabled) SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM notifying)");
    else this.#db.exec("DELETE FROM notifying");
  }

  /**
   * How many changes this instance has recorded in the outbox since it opened: comparing
   * it before and after a write tells whether the write is to be notified.
   */
  get changesRecorded(): number {
    return this.#changesRecorded;
  }

  /** The oldest changes in the outbox, in the order they were committed; at most `limit`. */
  changes(limit = 100): BucketChange[] {
    const rows = this.#db
      .prepare("SELECT id, event, reason, key, size, etag, time, chain FROM outbox ORDER BY id LIMIT ?")
      .all(limit) as unknown as (Omit<BucketChange, "key" | "chain"> & { key: Uint8Array; chain: string | null })[];
    return rows.map(({ chain, ...row }) => {
      const parsed = parseChain(chain);
      return { ...row, key: keyText(row.key), ...(parsed ? { chain: parsed } : {}) };
    });
  }

  /** Removes the changes up to and including `id` from the outbox, once they are notified. */
  dropChanges(id: number): void {
    this.#db.prepare("DELETE FROM outbox WHERE id <= ?").run(id);
  }

  head(key: string): ObjectRecord | undefined {
    const row = this.#sql.head.get(keyBytes(this.name, key)) as ObjectRow | undefined;
    return row && toRecord(row);
  }

  /**
   * An object's record with where part `part` of it lies, as {@link GetOptions.part}
   * reads it; undefined when there is no such key.
   */
  headPart(
    key: string,
    part: number,
  ): { object: ObjectRecord; range: { offset: number; length: number }; parts?: number } | undefined {
    const row = this.#sql.head.get(keyBytes(this.name, key)) as ObjectRow | undefined;
    return row && { object: toRecord(row), ...partRange(this.name, row, part) };
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    const bytes = keyBytes(this.name, key);
    // A writer in another thread may replace the object between the lookup and the
    // open; the open then fails and the lookup is repeated on the newer row.
    for (let attempt = 0; ; attempt++) {
      const row = this.#sql.row.get(bytes) as ObjectRow | undefined;
      if (!row) return { status: "missing" };
      const object = toRecord(row);
      const condition = checkConditions(object, options.onlyIf);
      if (condition !== "ok") return { status: condition, object };
      const part = options.part === undefined ? undefined : partRange(this.name, row, options.part);
      const range = part?.range ?? resolveRange(this.name, key, object.size, options.range);
      const parts = part?.parts;
      if (row.body) {
        const body =
          range.offset === 0 && range.length === row.body.byteLength
            ? row.body
            : row.body.subarray(range.offset, range.offset + range.length);
        return { status: "ok", object, range, body, parts };
      }
      const blobs = JSON.parse(row.blobs ?? "[]") as BlobRef[];
      try {
        const fds = openBlobs(this.#blobs, blobs);
        return { status: "ok", object, range, body: blobStream(fds, blobs, range.offset, range.length), parts };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "ENOENT" || attempt >= 100) throw error;
      }
    }
  }

  async put(key: string, source: BodySource, options: PutOptions = {}): Promise<ObjectRecord> {
    const bytes = keyBytes(this.name, key);
    const metadata = normaliseMetadata(this.name, key, options.metadata);
    const contentType = options.contentType ?? "application/octet-stream";
    let body: Awaited<ReturnType<typeof receiveBody>>;
    try {
      body = await receiveBody(source, this.#blobs, maxObjectSize, this.#durable);
      if (body.blob && this.#durable) await syncDir(this.#blobs);
    } catch (error) {
      if (error instanceof BodyTooLarge) {
        throw bucketError(
          "NIMBUS_BUCKET_TOO_LARGE",
          this.name,
          key,
          "the body is over 5 GiB, S3's limit for one upload; nothing was stored. Upload it in parts (multipart upload) instead.",
        );
      }
      throw bucketError(
        "NIMBUS_BUCKET_BODY",
        this.name,
        key,
        `reading the body failed, so nothing was stored: ${(error as Error).message}`,
        error,
      );
    }
    const blobs: BlobRef[] | undefined = body.blob ? [{ id: body.blob, size: body.size }] : undefined;
    const etag = body.md5.toString("hex");
    if (options.md5 !== undefined && options.md5.toLowerCase() !== etag) {
      this.#unlinkBlobs(blobs);
      throw bucketError(
        "NIMBUS_BUCKET_BAD_DIGEST",
        this.name,
        key,
        `the body's MD5 is ${etag}, not the ${options.md5} the client sent; nothing was stored. The body was changed or cut short on the way.`,
      );
    }
    return this.#commit(bytes, key, {
      size: body.size,
      etag,
      contentType,
      metadata,
      headers: { ...options.headers },
      inline: body.inline,
      blobs,
      onlyIf: options.onlyIf,
      reason: "PutObject",
      chain: options.chain,
    });
  }

  /**
   * Copies an object (from this bucket or another store) to `key`. The body's files are
   * hard-linked, not read: a copy of a large object is instant, and deleting either
   * object leaves the other whole.
   */
  async copy(
    source: BucketStore,
    sourceKey: string,
    key: string,
    options: {
      onlyIf?: Conditions;
      sourceIf?: Conditions;
      replace?: { contentType?: string; metadata?: MetadataInput; headers?: Record<string, string> };
      /** As {@link PutOptions.chain}. */
      chain?: Chain;
    } = {},
  ): Promise<ObjectRecord> {
    const bytes = keyBytes(this.name, key);
    const replacement = options.replace && {
      contentType: options.replace.contentType ?? "application/octet-stream",
      metadata: normaliseMetadata(this.name, key, options.replace.metadata),
      headers: { ...options.replace.headers },
    };
    const sourceBytes = keyBytes(source.name, sourceKey);
    for (let attempt = 0; ; attempt++) {
      const row = source.#sql.row.get(sourceBytes) as ObjectRow | undefined;
      if (!row) {
        throw bucketError(
          "NIMBUS_BUCKET_NO_SUCH_KEY",
          source.name,
          sourceKey,
          "the object to copy from does not exist",
        );
      }
      const object = toRecord(row);
      if (checkConditions(object, options.sourceIf) !== "ok") {
        throw bucketError(
          "NIMBUS_BUCKET_SOURCE_PRECONDITION",
          source.name,
          sourceKey,
          "a condition on the object to copy from failed; nothing was copied",
        );
      }
      let blobs: BlobRef[] | undefined;
      try {
        blobs = row.blobs ? await this.#linkBlobs(source, JSON.parse(row.blobs) as BlobRef[]) : undefined;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT" && attempt < 100) continue;
        throw error;
      }
      return this.#commit(bytes, key, {
        size: object.size,
        etag: object.etag,
        contentType: replacement ? replacement.contentType : object.contentType,
        metadata: replacement ? replacement.metadata : object.metadata,
        headers: replacement ? replacement.headers : object.headers,
        inline: row.body ?? undefined,
        blobs,
        onlyIf: options.onlyIf,
        reason: "CopyObject",
        chain: options.chain,
      });
    }
  }

  /**
   * Deletes the keys that exist and returns their records; missing keys are not an error.
   * `chain` as {@link PutOptions.chain}.
   */
  delete(keys: readonly string[], options: { chain?: Chain } = {}): ObjectRecord[] {
    const chain = options.chain ? formatChain(options.chain) : null;
    const all = keys.map((key) => keyBytes(this.name, key));
    const deleted: ObjectRecord[] = [];
    const garbage: BlobRef[] = [];
    let recorded = 0;
    this.#transaction(() => {
      let notifying: boolean | undefined;
      const time = this.#now();
      for (const bytes of all) {
        const row = this.#sql.head.get(bytes) as ObjectRow | undefined;
        if (!row) continue;
        this.#sql.delete.run(bytes);
        deleted.push(toRecord(row));
        if (row.blobs) garbage.push(...(JSON.parse(row.blobs) as BlobRef[]));
        notifying ??= this.#sql.notifying.get() !== undefined;
        if (notifying) this.#sql.record.run("deleted", "DeleteObject", bytes, row.size, row.etag, time, chain);
      }
      recorded = notifying ? deleted.length : 0;
    });
    this.#unlinkBlobs(garbage);
    this.#recorded(recorded);
    return deleted;
  }

  /**
   * A page of keys in S3's order (the UTF-8 bytes of the key), with keys that share the
   * text up to the next `delimiter` after `prefix` rolled into one entry of `prefixes`.
   */
  list(options: ListOptions = {}): ListResult {
    const most = bucketLimits.maxListKeys;
    const limit = options.limit ?? most;
    if (!Number.isInteger(limit) || limit < 1 || limit > most) {
      throw bucketError(
        "NIMBUS_BUCKET_ARGUMENT",
        this.name,
        undefined,
        `list limit must be a whole number from 1 to ${most}; found ${limit}`,
      );
    }
    const prefix = prefixBytes(this.name, "prefix", options.prefix ?? "");
    const delimiter = prefixBytes(this.name, "delimiter", options.delimiter ?? "");
    const upper = prefix.byteLength > 0 ? successor(prefix) : undefined;
    const groupOf = (key: Uint8Array): Uint8Array | undefined => {
      const at = indexOfBytes(key, delimiter, prefix.byteLength);
      return at < 0 ? undefined : key.subarray(0, at + delimiter.byteLength);
    };
    // The first key that may be listed: at the prefix, or past the start point.
    const resumeAfter = (after: Uint8Array, skipGroup: boolean): Uint8Array => {
      const group = skipGroup && startsWith(after, prefix) ? groupOf(after) : undefined;
      if (group) return successor(group) ?? after;
      const next = new Uint8Array(after.byteLength + 1);
      next.set(after);
      return next;
    };
    let from = prefix;
    const raise = (start: Uint8Array) => {
      if (compareBytes(start, from) > 0) from = start;
    };
    // As S3 continues from a NextMarker that is a common prefix: a start point inside a
    // group means the group was listed already.
    if (options.startAfter !== undefined)
      raise(resumeAfter(prefixBytes(this.name, "startAfter", options.startAfter), true));
    if (options.cursor !== undefined) raise(resumeAfter(decodeCursor(this.name, options.cursor), true));

    const objects: ObjectRecord[] = [];
    const prefixes: string[] = [];
    let last: Uint8Array | undefined;
    const nextRows = (count: number) =>
      (upper ? this.#sql.pageBelow.all(from, upper, count) : this.#sql.page.all(from, count)) as unknown as ObjectRow[];
    while (objects.length + prefixes.length < limit) {
      const wanted = limit - objects.length - prefixes.length;
      const rows = nextRows(wanted);
      if (rows.length === 0) break;
      let jumped = false;
      for (const row of rows) {
        const group = delimiter.byteLength > 0 ? groupOf(row.key) : undefined;
        if (group) {
          prefixes.push(keyText(group));
          last = group;
          // Every other key in the group is skipped with one jump past it.
          from = successor(group) ?? row.key;
          jumped = true;
          break;
        }
        objects.push(toRecord(row));
        last = row.key;
        from = resumeAfter(row.key, false);
      }
      if (!jumped && rows.length < wanted) break;
    }
    const truncated = last !== undefined && objects.length + prefixes.length >= limit && nextRows(1).length > 0;
    return { objects, prefixes, truncated, cursor: truncated && last ? encodeCursor(last) : undefined };
  }

  /** Removes every object and upload, and the changes waiting in the outbox. */
  clear(): void {
    const garbage: BlobRef[] = [];
    this.#transaction(() => {
      for (const row of this.#db.prepare("DELETE FROM objects RETURNING blobs").all() as { blobs: string | null }[]) {
        if (row.blobs) garbage.push(...(JSON.parse(row.blobs) as BlobRef[]));
      }
      for (const row of this.#db.prepare("DELETE FROM parts RETURNING blob, size").all() as {
        blob: string;
        size: number;
      }[]) {
        garbage.push({ id: row.blob, size: row.size });
      }
      this.#db.exec("DELETE FROM uploads");
      this.#db.exec("DELETE FROM completed");
      // A reset is no change to notify, and changes from before it are of no interest.
      this.#db.exec("DELETE FROM outbox");
    });
    this.#unlinkBlobs(garbage);
  }

  // Multipart uploads: parts are blob files of their own; completing writes one row
  // listing them, so nothing is copied.

  createUpload(
    key: string,
    options: { contentType?: string; metadata?: MetadataInput; headers?: Record<string, string> } = {},
  ): UploadRecord {
    const bytes = keyBytes(this.name, key);
    const upload: UploadRecord = {
      id: randomUUID(),
      key,
      contentType: options.contentType ?? "application/octet-stream",
      metadata: normaliseMetadata(this.name, key, options.metadata),
      headers: { ...options.headers },
      created: this.#now(),
    };
    this.#db
      .prepare("INSERT INTO uploads (id, key, content_type, metadata, headers, created) VALUES (?, ?, ?, ?, ?, ?)")
      .run(
        upload.id,
        bytes,
        upload.contentType,
        JSON.stringify(upload.metadata),
        JSON.stringify(upload.headers),
        upload.created,
      );
    return upload;
  }

  upload(id: string): UploadRecord | undefined {
    const row = this.#sql.upload.get(id) as
      | { id: string; key: Uint8Array; content_type: string; metadata: string; headers: string; created: number }
      | undefined;
    return (
      row && {
        id: row.id,
        key: keyText(row.key),
        contentType: row.content_type,
        metadata: JSON.parse(row.metadata),
        headers: JSON.parse(row.headers),
        created: row.created,
      }
    );
  }

  uploads(): UploadRecord[] {
    const ids = this.#db.prepare("SELECT id FROM uploads ORDER BY key, created").all() as { id: string }[];
    return ids.map(({ id }) => this.upload(id)!);
  }

  async putPart(
    uploadId: string,
    number: number,
    source: BodySource,
    options: { md5?: string } = {},
  ): Promise<PartRecord> {
    const upload = this.#requireUpload(uploadId);
    if (!Number.isInteger(number) || number < 1 || number > maxParts) {
      throw bucketError(
        "NIMBUS_BUCKET_PART",
        this.name,
        upload.key,
        `part numbers run from 1 to ${maxParts}; found ${number}`,
      );
    }
    let body: Awaited<ReturnType<typeof receiveBody>>;
    try {
      body = await receiveBody(source, this.#blobs, maxObjectSize, this.#durable);
      if (body.blob && this.#durable) await syncDir(this.#blobs);
    } catch (error) {
      if (error instanceof BodyTooLarge) {
        throw bucketError(
          "NIMBUS_BUCKET_TOO_LARGE",
          this.name,
          upload.key,
          "a part is at most 5 GiB; nothing was stored",
        );
      }
      throw bucketError(
        "NIMBUS_BUCKET_BODY",
        this.name,
        upload.key,
        `reading part ${number}'s body failed, so nothing was stored: ${(error as Error).message}`,
        error,
      );
    }
    const etag = body.md5.toString("hex");
    const blob = body.blob ?? (await this.#writeInlineBlob(body.inline ?? new Uint8Array()));
    if (options.md5 !== undefined && options.md5.toLowerCase() !== etag) {
      this.#unlinkBlobs([{ id: blob, size: body.size }]);
      throw bucketError(
        "NIMBUS_BUCKET_BAD_DIGEST",
        this.name,
        upload.key,
        `part ${number}'s MD5 is ${etag}, not the ${options.md5} the client sent; nothing was stored`,
      );
    }
    const part: PartRecord = { number, size: body.size, etag, uploaded: this.#now() };
    let replaced: string | undefined;
    try {
      this.#transaction(() => {
        this.#requireUpload(uploadId);
        replaced = (this.#sql.part.get(uploadId, number) as { blob: string } | undefined)?.blob;
        this.#sql.putPart.run(uploadId, number, blob, part.size, part.etag, part.uploaded);
      });
    } catch (error) {
      // The upload was completed or aborted while the body arrived: no row refers to the file.
      this.#unlinkBlobs([{ id: blob, size: body.size }]);
      throw error;
    }
    if (replaced) this.#unlinkBlobs([{ id: replaced, size: 0 }]);
    return part;
  }

  parts(uploadId: string): PartRecord[] {
    this.#requireUpload(uploadId);
    return (this.#sql.parts.all(uploadId) as unknown as (PartRecord & { blob: string })[]).map(
      ({ number, size, etag, uploaded }) => ({
        number,
        size,
        etag,
        uploaded,
      }),
    );
  }

  /**
   * Joins the listed parts, in order, into the upload's object. As S3: at least one part,
   * numbers ascending, each ETag matching, every part but the last at least 5 MiB.
   */
  completeUpload(
    uploadId: string,
    wanted: readonly { number: number; etag: string }[],
    /** `chain` as {@link PutOptions.chain}. */
    options: { onlyIf?: Conditions; chain?: Chain } = {},
  ): ObjectRecord {
    const upload = this.#requireUpload(uploadId);
    const fail = (message: string, code: BucketErrorCode = "NIMBUS_BUCKET_PART") =>
      bucketError(code, this.name, upload.key, message);
    if (wanted.length === 0) throw fail("completing an upload needs at least one part");
    const stored = new Map(
      (this.#sql.parts.all(uploadId) as unknown as (PartRecord & { blob: string })[]).map((p) => [p.number, p]),
    );
    // As S3 checks a part list: its order first, then each part, then the sizes.
    for (const [index, item] of wanted.entries()) {
      const previous = wanted[index - 1];
      if (previous && item.number <= previous.number) {
        throw fail(
          `parts must be listed in ascending order; part ${item.number} follows part ${previous.number}`,
          "NIMBUS_BUCKET_PART_ORDER",
        );
      }
    }
    const chosen = wanted.map((item) => {
      const part = stored.get(item.number);
      if (!part) throw fail(`part ${item.number} was never uploaded`);
      if (unquote(item.etag) !== part.etag) {
        throw fail(`part ${item.number}'s ETag is ${part.etag}, not ${unquote(item.etag)}`);
      }
      return part;
    });
    for (const part of chosen.slice(0, -1)) {
      if (part.size < minPartSize) {
        throw fail(
          `part ${part.number} is ${part.size} bytes; every part but the last must be at least 5 MiB`,
          "NIMBUS_BUCKET_PART_TOO_SMALL",
        );
      }
    }
    const etag = `${createHash("md5")
      .update(Buffer.concat(chosen.map((p) => Buffer.from(p.etag, "hex"))))
      .digest("hex")}-${chosen.length}`;
    const used = new Set(chosen.map((p) => p.blob));
    let unused: BlobRef[] = [];
    const record = this.#commit(keyBytes(this.name, upload.key), upload.key, {
      size: chosen.reduce((sum, p) => sum + p.size, 0),
      etag,
      contentType: upload.contentType,
      metadata: upload.metadata,
      headers: upload.headers,
      blobs: chosen.map((p) => ({ id: p.blob, size: p.size })),
      onlyIf: options.onlyIf,
      reason: "CompleteMultipartUpload",
      chain: options.chain,
      alsoInTransaction: () => {
        // Another thread may have completed, aborted or changed the upload since its parts
        // were read above; committing then would point the object at files already unlinked.
        this.#requireUpload(uploadId);
        for (const part of chosen) {
          const current = this.#sql.part.get(uploadId, part.number) as { blob: string } | undefined;
          if (current?.blob !== part.blob) throw fail(`part ${part.number} was replaced meanwhile; complete again`);
        }
        this.#sql.dropUpload.run(uploadId);
        const now = this.#now();
        this.#db.prepare("DELETE FROM completed WHERE time < ?").run(now - completionRetentionMs);
        this.#db
          .prepare("INSERT OR REPLACE INTO completed (upload, key, parts, etag, time) VALUES (?, ?, ?, ?, ?)")
          .run(
            uploadId,
            keyBytes(this.name, upload.key),
            JSON.stringify(chosen.map((p) => [p.number, p.etag])),
            etag,
            now,
          );
        unused = (this.#sql.dropParts.all(uploadId) as { blob: string }[])
          .filter((row) => !used.has(row.blob))
          .map((row) => ({ id: row.blob, size: 0 }));
      },
    });
    this.#unlinkBlobs(unused);
    return record;
  }

  /**
   * What completing upload `uploadId` answered, for {@link completionRetentionMs} after it
   * completed; undefined for an upload that is open, aborted, unknown or completed longer ago.
   */
  completion(uploadId: string): CompletionRecord | undefined {
    const row = this.#db
      .prepare("SELECT key, parts, etag, time FROM completed WHERE upload = ? AND time >= ?")
      .get(uploadId, this.#now() - completionRetentionMs) as
      | { key: Uint8Array; parts: string; etag: string; time: number }
      | undefined;
    if (!row) return undefined;
    const parts = (JSON.parse(row.parts) as [number, string][]).map(([number, etag]) => ({ number, etag }));
    return { key: keyText(row.key), parts, etag: row.etag, completed: row.time };
  }

  abortUpload(uploadId: string): void {
    this.#requireUpload(uploadId);
    const garbage: BlobRef[] = [];
    this.#transaction(() => {
      this.#sql.dropUpload.run(uploadId);
      for (const row of this.#sql.dropParts.all(uploadId) as { blob: string }[])
        garbage.push({ id: row.blob, size: 0 });
    });
    this.#unlinkBlobs(garbage);
  }

  #requireUpload(uploadId: string): UploadRecord {
    const upload = this.upload(uploadId);
    if (!upload) {
      throw bucketError(
        "NIMBUS_BUCKET_NO_SUCH_UPLOAD",
        this.name,
        undefined,
        `there is no multipart upload "${uploadId}": it was completed, aborted, or never created`,
      );
    }
    return upload;
  }

  #commit(
    bytes: Uint8Array,
    key: string,
    next: {
      size: number;
      etag: string;
      contentType: string;
      metadata: Record<string, string>;
      headers: Record<string, string>;
      inline?: Uint8Array;
      blobs?: BlobRef[];
      onlyIf?: Conditions;
      reason: ChangeReason;
      alsoInTransaction?: () => void;
      chain?: Chain;
    },
  ): ObjectRecord {
    const record: ObjectRecord = {
      key,
      size: next.size,
      etag: next.etag,
      contentType: next.contentType,
      metadata: next.metadata,
      headers: next.headers,
      uploaded: this.#now(),
    };
    let replaced: BlobRef[] = [];
    let recorded = 0;
    try {
      this.#transaction(() => {
        // Only what the conditions and the cleanup need: no JSON to parse on the hot path.
        const current = this.#sql.version.get(bytes) as
          | { etag: string; uploaded: number; blobs: string | null }
          | undefined;
        if (checkConditions(current, next.onlyIf) !== "ok") {
          throw bucketError(
            "NIMBUS_BUCKET_PRECONDITION",
            this.name,
            key,
            current
              ? `a condition failed against the stored object (ETag ${current.etag}, stored ${new Date(current.uploaded).toISOString()}); nothing was written`
              : "a condition failed because no object exists; nothing was written",
          );
        }
        if (current?.blobs) replaced = JSON.parse(current.blobs) as BlobRef[];
        this.#sql.upsert.run(
          bytes,
          record.size,
          record.etag,
          record.contentType,
          JSON.stringify(record.metadata),
          JSON.stringify(record.headers),
          record.uploaded,
          next.inline ?? (next.blobs ? null : new Uint8Array()),
          next.blobs ? JSON.stringify(next.blobs) : null,
        );
        next.alsoInTransaction?.();
        // One indexless read of a table of at most one row: about half a microsecond.
        if (this.#sql.notifying.get() !== undefined) {
          const chain = next.chain ? formatChain(next.chain) : null;
          this.#sql.record.run("created", next.reason, bytes, record.size, record.etag, record.uploaded, chain);
          recorded = 1;
        }
      });
    } catch (error) {
      if (!next.alsoInTransaction) this.#unlinkBlobs(next.blobs);
      throw error;
    }
    this.#unlinkBlobs(replaced);
    this.#recorded(recorded);
    return record;
  }

  #recorded(count: number): void {
    if (count === 0) return;
    this.#changesRecorded += count;
    this.#onChange?.();
  }

  async #linkBlobs(source: BucketStore, blobs: BlobRef[]): Promise<BlobRef[]> {
    const linked: BlobRef[] = [];
    try {
      for (const blob of blobs) {
        const id = newBlobId();
        const from = join(source.#blobs, blob.id);
        const to = join(this.#blobs, id);
        // A link shares the source's data, already on disk; a copy has data of its own.
        await link(from, to).catch(async (error: NodeJS.ErrnoException) => {
          if (error.code === "ENOENT") throw error;
          await copyFile(from, to);
          if (this.#durable) await syncFile(to);
        });
        linked.push({ id, size: blob.size });
      }
      if (this.#durable && linked.length > 0) await syncDir(this.#blobs);
    } catch (error) {
      this.#unlinkBlobs(linked);
      throw error;
    }
    return linked;
  }

  async #writeInlineBlob(bytes: Uint8Array): Promise<string> {
    const id = newBlobId();
    await writeFile(join(this.#blobs, id), bytes, { flag: "wx" });
    if (this.#durable) {
      await syncFile(join(this.#blobs, id));
      await syncDir(this.#blobs);
    }
    return id;
  }

  #unlinkBlobs(blobs: readonly BlobRef[] | undefined): void {
    // Readers that opened a blob keep reading it after the unlink. Synchronous, so that
    // once a call returns (or throws) the files it let go of are gone.
    for (const blob of blobs ?? []) {
      try {
        unlinkSync(join(this.#blobs, blob.id));
      } catch {
        // Already gone, or left for the next sweep.
      }
    }
  }

  /**
   * Removes blob files no row refers to: what a process killed mid-write left behind.
   * Only safe while nothing else writes to the bucket, so the emulator sweeps when it
   * starts, before any function runs.
   */
  #sweep(): void {
    const referenced = new Set<string>();
    for (const row of this.#db
      .prepare(
        "SELECT value ->> '$.id' AS id FROM objects, json_each(objects.blobs) WHERE objects.blobs IS NOT NULL UNION ALL SELECT blob FROM parts",
      )
      .all() as { id: string }[]) {
      referenced.add(row.id);
    }
    for (const name of readdirSync(this.#blobs)) {
      if (!referenced.has(name)) rmSync(join(this.#blobs, name), { force: true });
    }
  }
}

function toRecord(row: ObjectRow): ObjectRecord {
  return {
    key: keyText(row.key),
    size: row.size,
    etag: row.etag,
    contentType: row.content_type,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    headers: JSON.parse(row.headers) as Record<string, string>,
    uploaded: row.uploaded,
  };
}

/**
 * Where part `part` of an object lies. A multipart object keeps one blob per part and an
 * ETag ending in `-<parts>`; any other object is one part. Copies keep both, so a copy of
 * a multipart object has its parts too.
 */
function partRange(
  bucket: string,
  row: Pick<ObjectRow, "key" | "size" | "etag" | "blobs">,
  part: number,
): { range: { offset: number; length: number }; parts?: number } {
  const count = /-(\d+)$/.exec(row.etag);
  const blobs = row.blobs ? (JSON.parse(row.blobs) as BlobRef[]) : [];
  const multipart = count !== null && Number(count[1]) === blobs.length;
  const sizes = multipart ? blobs.map((blob) => blob.size) : [row.size];
  if (!Number.isInteger(part) || part < 1 || part > sizes.length) {
    throw bucketError(
      "NIMBUS_BUCKET_RANGE",
      bucket,
      keyText(row.key),
      `part ${part} is not one of the object's ${sizes.length} part${sizes.length === 1 ? "" : "s"}`,
    );
  }
  const offset = sizes.slice(0, part - 1).reduce((sum, size) => sum + size, 0);
  return { range: { offset, length: sizes[part - 1]! }, parts: multipart ? sizes.length : undefined };
}

function resolveRange(
  bucket: string,
  key: string,
  size: number,
  range: GetRange | undefined,
): { offset: number; length: number } {
  if (!range) return { offset: 0, length: size };
  checkRange(bucket, key, range);
  if ("suffix" in range) {
    const length = Math.min(range.suffix, size);
    return { offset: size - length, length };
  }
  const { offset, length } = range;
  if (offset >= size && !(offset === 0 && size === 0)) throw rangePastEnd(bucket, key, offset, size);
  return { offset, length: Math.min(length ?? size - offset, size - offset) };
}

function unquote(etag: string): string {
  return etag.replace(/^"|"$/g, "");
}

function encodeCursor(after: Uint8Array): string {
  return Buffer.from(after).toString("base64url");
}

function decodeCursor(bucket: string, cursor: string): Uint8Array {
  if (typeof cursor !== "string" || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw bucketError(
      "NIMBUS_BUCKET_ARGUMENT",
      bucket,
      undefined,
      `cursor ${JSON.stringify(cursor)} is not one this bucket's list returned. Pass the cursor of the previous page as it was.`,
    );
  }
  return new Uint8Array(Buffer.from(cursor, "base64url"));
}

async function syncFile(path: string): Promise<void> {
  const handle = await open(path, "r+");
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function syncDirSync(dir: string): void {
  const fd = openSync(dir, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Adds the outbox's `chain` column to a bucket opened before chains were recorded; its
 * changes, recorded without one, belong to no chain. Another thread may add it meanwhile.
 */
function addChainColumn(db: DatabaseSync): void {
  const has = () =>
    (db.prepare("PRAGMA table_info(outbox)").all() as { name: string }[]).some((c) => c.name === "chain");
  if (has()) return;
  try {
    db.exec("ALTER TABLE outbox ADD COLUMN chain TEXT");
  } catch (error) {
    if (!has()) throw error;
  }
}
