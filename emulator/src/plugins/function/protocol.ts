import type { ReadableStreamReadResult } from "node:stream/web";
import type { TransferListItem } from "node:worker_threads";
import type { Chain, LinkSpec } from "@nimbus/core";

/**
 * Messages between the emulator and a function's worker thread. Bodies travel as
 * transferred ReadableStreams, so neither side buffers them whole; small bodies that
 * are already complete travel as bytes to save the stream round trips.
 */

export type Body = ReadableStream<Uint8Array> | Uint8Array | null;

/** A response body may also be the string the handler made its Response with (see lazy-web.ts). */
export type ResponseBody = Body | string;

/** What `new Request` and `new Response` take as a body. */
export type RequestBody = ConstructorParameters<typeof Response>[0];

export interface WireRequest {
  method: string;
  url: string;
  headers: PackedHeaders;
  body: Body;
}

export interface WireResponse {
  status: number;
  statusText: string;
  headers: PackedHeaders;
  body: ResponseBody;
}

/**
 * A header list as it crosses between threads: names and values in order, joined by NUL,
 * which HTTP allows in neither. One string is copied across far more cheaply than an
 * array of pairs, and a side that never reads the headers never splits it.
 */
export type PackedHeaders = string;

export function packHeaders(pairs: Iterable<readonly [string, string]>): PackedHeaders {
  let packed = "";
  for (const [name, value] of pairs) packed += packed === "" ? `${name}\0${value}` : `\0${name}\0${value}`;
  return packed;
}

/** Names and values alternating, as Node's `rawHeaders` and `writeHead` have them. */
export function headerList(packed: PackedHeaders): string[] {
  return packed === "" ? [] : packed.split("\0");
}

export function headerPairs(packed: PackedHeaders): [string, string][] {
  const list = headerList(packed);
  const pairs: [string, string][] = [];
  for (let i = 0; i < list.length; i += 2) pairs.push([list[i]!, list[i + 1]!]);
  return pairs;
}

export interface WireError {
  name: string;
  message: string;
  stack?: string;
  /** A NimbusError's code, kept so the handler can tell errors apart. */
  code?: string;
}

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Emulator → worker. */
export type ToWorker =
  /**
   * The request's parts sit beside the message's own fields, not in an object of their
   * own: each nested object costs both threads about a microsecond to copy across.
   * `params`: the route's parameters; absent when it has none.
   */
  | ({ type: "fetch"; id: number; invocationId: string; params?: Record<string, string> } & WireRequest)
  | { type: "abort"; id: number }
  /** Runs the handler's `queue`, `event` or `scheduled` with an argument built from `payload`, in `chain`. */
  | {
      type: "run";
      id: number;
      invocationId: string;
      handler: "queue" | "event" | "scheduled";
      payload: unknown;
      chain?: Chain;
    }
  /** `response` answers a `request` call, `value` an `args` call. */
  | { type: "reply"; id: number; response?: WireResponse; value?: unknown; error?: WireError };

/** Worker → emulator. */
export type FromWorker =
  | { type: "ready" }
  | { type: "load-error"; error: WireError }
  /**
   * A fetch's response, its parts beside the message's fields (as `fetch`'s are). `done`
   * when the invocation had nothing left to wait for: saves the separate `done` message.
   */
  | ({ type: "response"; id: number; done?: boolean } & WireResponse)
  /** `value`: what a run reported before it failed (a queue batch's settled messages). */
  | { type: "error"; id: number; error: WireError; value?: unknown }
  /** A run's outcome; `done` as for `response`. */
  | { type: "result"; id: number; value: unknown; done?: boolean }
  /** The invocation and everything it passed to `waitUntil` have settled. */
  | { type: "done"; id: number }
  | { type: "log"; invocationId: string | undefined; level: LogLevel; message: string }
  /** A binding call from the handler; answered with a `reply` of the same id. */
  | {
      type: "call";
      id: number;
      invocationId: string | undefined;
      binding: string;
      method: string;
      /** A linked function's `fetch`. */
      request?: WireRequest;
      /** A service binding's call (a queue's send, a bucket's presign): plain, cloneable data. */
      args?: unknown;
    }
  /** A service binding's call that wants no answer (a queue's `sent`, after a send the worker stored). */
  | { type: "notice"; invocationId: string | undefined; binding: string; method: string; args: unknown };

/** What a worker is started with. */
export interface WorkerData {
  fn: string;
  /** The emulator's state folder: bucket bindings open their bucket's store under it. */
  stateDir: string;
  /** A manual clock's time, shared with the emulator; absent on the real clock. */
  clock?: SharedArrayBuffer;
  bundle: string;
  env: Record<string, string | number | boolean>;
  links: LinkSpec[];
}

export function toWireError(error: unknown): WireError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      stack: error.stack,
      ...(typeof code === "string" ? { code } : {}),
    };
  }
  return { name: "Error", message: String(error) };
}

const inlineLimit = 64 * 1024;
const nextTurn = () => new Promise<undefined>((resolve) => setImmediate(resolve, undefined));

/**
 * The read's result if it is already available, else undefined. Data already in a
 * stream arrives within a few microtasks; only when it does not is a whole event-loop
 * turn spent (which costs more than the read itself on the hot path).
 */
async function settledSoon<T>(read: Promise<T>): Promise<T | undefined> {
  let result: { value: T } | undefined;
  void read.then(
    (value) => {
      result = { value };
    },
    () => {},
  );
  for (let i = 0; i < 8 && !result; i++) await undefined;
  if (result) return result.value;
  return Promise.race([read, nextTurn()]);
}

/**
 * A body to send across: bytes when the whole body is already there (a string or JSON
 * response, a small upload), else a stream that replays what was read and continues.
 * Never waits for data that is not already available, so streamed responses start at once.
 */
export async function packBody(stream: ReadableStream<Uint8Array> | null): Promise<Body> {
  if (stream === null) return null;
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const read = reader.read();
    const result = await settledSoon(read);
    if (result === undefined) return replay(chunks, read, reader);
    if (result.done) return concat(chunks, size);
    chunks.push(result.value);
    size += result.value.byteLength;
    if (size > inlineLimit) return replay(chunks, undefined, reader);
  }
}

function replay(
  chunks: Uint8Array[],
  pending: Promise<ReadableStreamReadResult<Uint8Array>> | undefined,
  reader: ReadableStreamDefaultReader<Uint8Array>,
): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buffered = chunks.shift();
      if (buffered) return controller.enqueue(buffered);
      const read = pending ?? reader.read();
      pending = undefined;
      const { done, value } = await read;
      if (done) controller.close();
      else controller.enqueue(value);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

function concat(chunks: Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

/** The objects of a body that must be transferred rather than copied. */
export function transferables(body: ResponseBody): TransferListItem[] {
  if (body instanceof ReadableStream) return [body as unknown as TransferListItem];
  // Bytes that own their whole buffer move without a copy.
  if (
    body instanceof Uint8Array &&
    body.byteOffset === 0 &&
    body.byteLength === body.buffer.byteLength &&
    body.buffer instanceof ArrayBuffer
  ) {
    return [body.buffer];
  }
  return [];
}
