import type { IncomingMessage, ServerResponse } from "node:http";
import type { TransferListItem, Worker } from "node:worker_threads";
import { type Chain, type FunctionSpec, formatDuration, type LinkSpec, NimbusError } from "@nimbus/core";
import { InFlight, Limiter } from "@nimbus/runtime/target";
import type { Logger } from "../../logs/logger.ts";
import { Batches, eachMessage } from "./batches.ts";
import {
  type Body,
  type FromWorker,
  headerList,
  headerPairs,
  packBody,
  packHeaders,
  type RequestBody,
  type ToWorker,
  toWireError,
  transferables,
  type WireError,
  type WireResponse,
  type WorkerData,
} from "./protocol.ts";
import type { SpareWorkers } from "./spare-workers.ts";
import { userFrames } from "./user-frames.ts";

const nullBodyStatuses = new Set([101, 204, 205, 304]);

export interface FunctionHostOptions {
  name: string;
  spec: FunctionSpec;
  /** Path of the function's current esbuild bundle (its handler module). */
  bundle: string;
  /** Path of the worker runtime's bundle, loaded before the handler's. */
  runtime: string;
  /** Config values and secrets, put in `env` as they are. */
  values: Record<string, string | number | boolean>;
  /** The emulator's state folder, where linked buckets live. */
  stateDir: string;
  /** A manual clock's shared time; undefined on the real clock. */
  clock?: SharedArrayBuffer;
  logger: Logger;
  /** Serves a call the handler makes on one of its links: a linked function's `fetch`… */
  callLink(link: LinkSpec, method: string, request: Request, invocationId: string | undefined): Promise<Response>;
  /** …or a service binding's call, with plain data. */
  callService(link: LinkSpec, method: string, args: unknown, invocationId: string | undefined): Promise<unknown>;
  /** Where workers come from: started ones waiting, so a swap need not wait for a thread. */
  workers: SpareWorkers;
  /** How long a timed-out invocation may take to stop before its worker is recycled. */
  graceMs?: number;
  /**
   * Told of each run (`queue`, `event`, `scheduled`) with a promise that settles once its
   * worker is done with it, binding calls the handler did not await included: the
   * emulator counts it as background work, which `idle()` and `advance` wait for.
   */
  track?: (finished: Promise<void>) => void;
}

/** Why an invocation failed: `message` for a fetch's error response, `reason` (default: `message`) for a run's result. */
interface Failure {
  status: number;
  message: string;
  reason?: string;
  /** What the handler reported before it failed (a queue batch's outcomes). */
  value?: unknown;
}

/**
 * An invocation in flight, whichever handler it calls: the worker's answers end it for
 * its caller (`#respond`, `#complete`, `#fail`, then `#finish`). Plain data, no closures
 * of its own: one is made per request.
 */
interface Invocation<T = unknown> {
  /** Its id in its worker's table, set as it is added. */
  id: number;
  readonly invocationId: string;
  readonly handle: WorkerHandle;
  /** What its log line starts with: `GET /path`, a run's label. */
  readonly label: string;
  readonly started: number;
  readonly answers: Answers<T>;
  /** Takes the caller's answer, once. */
  deliver(result: T): void;
  /** Frees the concurrency slot once the worker is done. */
  release(): void;
  timer: NodeJS.Timeout | undefined;
  /** Set once an answer went back to the caller. */
  answered: boolean;
  /** Timed out and did not stop in time: its worker is being recycled. */
  stuck: boolean;
}

/** A concurrency slot and the worker to run in. */
interface Admitted {
  release: () => void;
  handle: WorkerHandle;
}

/** One worker thread running one build of the function. */
class WorkerHandle {
  readonly worker: Worker;
  readonly ready: Promise<void>;
  /** Set once `ready` resolved: a request then goes to the worker without waiting a turn. */
  isReady = false;
  /** What goes to the worker, a batch per turn. */
  readonly outbox: Batches<ToWorker>;
  readonly invocations = new InFlight<Invocation>();
  /** No new invocations; terminated once the running ones finish. */
  retired = false;
  exited = false;

  constructor(worker: Worker, ready: Promise<void>) {
    this.worker = worker;
    this.ready = ready;
    ready.then(
      () => {
        this.isReady = true;
      },
      () => {},
    );
    this.outbox = new Batches((batch, transfer) => {
      if (!this.exited) worker.postMessage(batch, transfer);
    });
  }

  /** Invocations that can still finish on their own. */
  get live(): number {
    let count = 0;
    for (const invocation of this.invocations.values()) if (!invocation.stuck) count++;
    return count;
  }
}

/**
 * Runs a function in worker threads, isolated from the emulator and from other
 * functions: its timeout (504, then the run is cut off), its concurrency (a bounded wait
 * queue, then 503), crashes (500, a fresh worker), and code swaps that let requests in
 * flight finish on the old code while new ones reach the new code.
 */
export class FunctionHost {
  readonly name: string;
  readonly spec: FunctionSpec;
  #options: FunctionHostOptions;
  #bundle: string;
  #current: WorkerHandle | undefined;
  readonly #limiter: Limiter;
  readonly #handles = new Set<WorkerHandle>();
  #stopped = false;
  /** How a request `serveHttp` serves is answered: the worker's response as it came. */
  readonly #served: Answers<WireResponse> = {
    response: (response) => response,
    result: () => problemWire(500, `function "${this.name}" answered a request without a response`),
    failure: ({ status, message }) => problemWire(status, message),
    log: answeredLine,
  };

  constructor(options: FunctionHostOptions) {
    this.name = options.name;
    this.spec = options.spec;
    this.#options = options;
    this.#bundle = options.bundle;
    // Requests beyond the running ones wait, up to four times the concurrency, then get 503.
    this.#limiter = new Limiter(options.spec.concurrency, options.spec.concurrency * 4);
  }

  /**
   * Starts a worker if none is running and resolves when it is ready; rejects with a
   * user error when the module does not load (the next request then tries a fresh
   * worker). Requests start a worker on their own, so this only saves the first one
   * the wait.
   */
  warm(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    if (!this.#current || this.#current.retired || this.#current.exited) this.#current = this.#spawn(this.#bundle);
    return this.#current.ready;
  }

  /**
   * Loads a new build beside the running one; once it is ready, new requests go to it
   * and the old worker finishes what it is running, then stops. A build that fails to
   * load is thrown and the old one keeps serving.
   */
  async swap(bundle: string): Promise<void> {
    const handle = this.#spawn(bundle, true);
    try {
      await handle.ready;
    } catch (error) {
      this.#retire(handle);
      throw error;
    }
    this.#bundle = bundle;
    const old = this.#current;
    this.#current = handle;
    if (old) this.#retire(old);
  }

  /** Waits for running invocations (each still bound by its timeout), then stops every worker. */
  async stop(): Promise<void> {
    this.#stopped = true;
    const exits = [...this.#handles].map(
      (handle) =>
        new Promise<void>((resolve) => (handle.exited ? resolve() : handle.worker.once("exit", () => resolve()))),
    );
    for (const handle of this.#handles) this.#retire(handle);
    await Promise.all(exits);
  }

  get stats(): { running: number; waiting: number } {
    return { running: this.#limiter.active, waiting: this.#limiter.waiting };
  }

  /**
   * A concurrency slot and the worker to run in, for every kind of invocation; or why it
   * cannot run. Without a wait when a slot and a ready worker are free, as under load they are.
   */
  async #admit(): Promise<
    Admitted | { refused: { status: number; message: string; headers?: Record<string, string> } }
  > {
    const now = this.#admitNow();
    if (now) return now;
    if (this.#stopped) return { refused: { status: 503, message: `function "${this.name}" is stopping` } };
    const release = this.#limiter.tryAcquire() ?? (await this.#limiter.acquire());
    if (!release) {
      const { limit, queueLimit } = this.#limiter;
      return {
        refused: {
          status: 503,
          message: `function "${this.name}" is at its concurrency limit (${limit} running, ${queueLimit} waiting); retry shortly or raise its concurrency`,
          headers: { "retry-after": "1" },
        },
      };
    }
    const handle = this.#readyNow() ?? (await this.#readyWorker());
    if (typeof handle === "string") {
      release();
      return { refused: { status: 500, message: handle } };
    }
    return { release, handle };
  }

  /** A slot and a ready worker when both are free now, as under load they are: no wait, no promise. */
  #admitNow(): Admitted | undefined {
    const handle = this.#stopped ? undefined : this.#readyNow();
    if (!handle) return undefined;
    const release = this.#limiter.tryAcquire();
    return release ? { release, handle } : undefined;
  }

  /** The worker new invocations go to, when it is ready now. */
  #readyNow(): WorkerHandle | undefined {
    const handle = this.#current;
    return handle?.isReady && !handle.retired && !handle.exited ? handle : undefined;
  }

  /** The worker new invocations go to, started if need be; a message when its module does not load. */
  async #readyWorker(): Promise<WorkerHandle | string> {
    let handle = this.#current;
    if (!handle || handle.retired || handle.exited) {
      handle = this.#spawn(this.#bundle);
      this.#current = handle;
    }
    try {
      await handle.ready;
      return handle;
    } catch (error) {
      return `function "${this.name}" failed to load: ${(error as Error).message}`;
    }
  }

  /**
   * Calls the function's `fetch`. Never rejects: failures become 500, 503 or 504 responses.
   * `overLimit` answers instead of the function, and is what the log shows, once the
   * request body turned out too large while it streamed (the handler then fails reading it).
   */
  async fetch(
    request: Request,
    params: Record<string, string> = {},
    overLimit?: () => Response | undefined,
  ): Promise<Response> {
    const admitted = await this.#admit();
    if ("refused" in admitted) {
      const { status, message, headers } = admitted.refused;
      return this.#problem(status, message, headers);
    }
    const { method, url, headers } = request;
    const path = new URL(url).pathname;
    let body: Body;
    try {
      body = await packBody(request.body);
    } catch (error) {
      admitted.release();
      const refused =
        overLimit?.() ?? this.#problem(400, `could not read the request body: ${(error as Error).message}`);
      this.#options.logger.log({ fn: this.name, ...answeredLine(refused, 0, `${method} ${path}`) });
      return refused;
    }
    const answers: Answers<Response> = {
      response: (wire) => {
        const response = toResponse(wire);
        const refused = overLimit?.();
        if (refused) void response.body?.cancel().catch(() => {});
        return refused ?? response;
      },
      result: () => this.#problem(500, `function "${this.name}" answered a request without a response`),
      failure: ({ status, message }) => overLimit?.() ?? this.#problem(status, message),
      log: answeredLine,
    };
    return new Promise((resolve) => {
      const { id, invocationId, handle } = this.#start(admitted, `${method} ${path}`, answers, resolve);
      handle.outbox.post(
        { type: "fetch", id, invocationId, params, method, url, headers: packHeaders(headers), body },
        transferables(body),
      );
    });
  }

  /**
   * `fetch` for a request straight off the server, answered on `outgoing`: no WHATWG
   * Request or Response is made in this thread (the worker makes the Request its handler
   * gets), which halves the main thread's work per request. Only for requests without a
   * body or with a small one of known length (the caller checked it against maxBodySize);
   * the others take `fetch`, which streams. With a free slot, a ready worker and no body
   * to read, as under load, nothing waits. Never throws or rejects: a failure to answer
   * is logged, and the client gets a 500 if it got nothing yet.
   */
  serveHttp(
    incoming: IncomingMessage,
    outgoing: ServerResponse,
    target: HttpTarget,
    params: Record<string, string> | undefined,
  ): void {
    const admitted = this.#admitNow();
    try {
      if (admitted && !hasBody(incoming)) this.#sendHttp(admitted, incoming, outgoing, target, params, null);
      else
        this.#serveHttpWaiting(admitted, incoming, outgoing, target, params).catch((error) =>
          this.#failed(outgoing, error),
        );
    } catch (error) {
      this.#failed(outgoing, error);
    }
  }

  /** `serveHttp` when it waits: for a slot, a worker, or the request's body. */
  async #serveHttpWaiting(
    admittedNow: Admitted | undefined,
    incoming: IncomingMessage,
    outgoing: ServerResponse,
    target: HttpTarget,
    params: Record<string, string> | undefined,
  ): Promise<void> {
    const admitted = admittedNow ?? (await this.#admit());
    if ("refused" in admitted) {
      const { status, message, headers } = admitted.refused;
      return this.#writeAnswer(outgoing, problemWire(status, message, headers));
    }
    let body: Uint8Array | null = null;
    if (hasBody(incoming)) {
      try {
        body = await readAll(incoming);
      } catch (error) {
        admitted.release();
        this.#options.logger.log({
          fn: this.name,
          ...answeredLine({ status: 400 }, 0, `${incoming.method} ${target.path}`),
        });
        const problem = problemWire(400, `could not read the request body: ${(error as Error).message}`);
        return this.#writeAnswer(outgoing, problem);
      }
    }
    this.#sendHttp(admitted, incoming, outgoing, target, params, body);
  }

  #sendHttp(
    admitted: Admitted,
    incoming: IncomingMessage,
    outgoing: ServerResponse,
    { url, path }: HttpTarget,
    params: Record<string, string> | undefined,
    body: Uint8Array | null,
  ): void {
    const method = incoming.method ?? "GET";
    const headers = incoming.rawHeaders.join("\0");
    const { id, invocationId, handle } = this.#start(admitted, `${method} ${path}`, this.#served, (wire) =>
      this.#writeAnswer(outgoing, wire),
    );
    handle.outbox.post({ type: "fetch", id, invocationId, params, method, url, headers, body }, transferables(body));
  }

  /** Writes an answer on the server's response; what fails on the way is logged, and ends it. */
  #writeAnswer(outgoing: ServerResponse, wire: WireResponse): void {
    try {
      writeWire(outgoing, wire)?.catch((error) => this.#failed(outgoing, error));
    } catch (error) {
      this.#failed(outgoing, error);
    }
  }

  /** A request `serveHttp` could not answer as it should: logged, and a 500 if the client got nothing yet. */
  #failed(outgoing: ServerResponse, error: unknown): void {
    const { method, url } = outgoing.req;
    this.#options.logger.error(`answering ${method} ${url} failed: ${(error as Error).stack ?? error}`);
    if (!outgoing.headersSent) outgoing.writeHead(500, { "content-type": "text/plain; charset=utf-8" });
    outgoing.end();
  }

  /**
   * Runs one of the handler's other methods (`queue`, `event`, `scheduled`) with a
   * payload the worker turns into its argument. Never rejects: a throw, a timeout or a
   * crash is `{ ok: false, error }`, with what the handler reported before it failed.
   * `chain`: the delivery's (docs/semantics.md, "Recursive loops").
   */
  async run(handler: RunHandler, payload: unknown, label: string, chain?: Chain): Promise<RunResult> {
    const admitted = await this.#admit();
    if ("refused" in admitted) return { ok: false, error: admitted.refused.message };
    const finished = Promise.withResolvers<void>();
    this.#options.track?.(finished.promise);
    const answers: Answers<RunResult> = {
      response: () => ({ ok: false, error: `function "${this.name}" answered a ${handler} run with a response` }),
      result: (value) => ({ ok: true, value }),
      failure: ({ message, reason, value }) => ({ ok: false, error: reason ?? message, value }),
      log: (result, ms) => ({
        level: result.ok ? "info" : "error",
        message: `${label} ${result.ok ? "ok" : `failed: ${result.error}`} ${ms}ms`,
      }),
    };
    const release = () => {
      admitted.release();
      finished.resolve();
    };
    return new Promise((resolve) => {
      const { id, invocationId, handle } = this.#start({ release, handle: admitted.handle }, label, answers, resolve);
      handle.outbox.post({ type: "run", id, invocationId, handler, payload, chain });
    });
  }

  /**
   * The one invocation path of fetches and runs: an id, the timeout, and the answer back
   * to the caller (logged once) when the worker responds, throws, times out or crashes.
   * The caller then posts the message that starts it.
   */
  #start<T>(admitted: Admitted, label: string, answers: Answers<T>, deliver: (result: T) => void): Invocation<T> {
    const invocation: Invocation<T> = {
      id: 0,
      invocationId: newInvocationId(),
      handle: admitted.handle,
      label,
      started: performance.now(),
      answers,
      deliver,
      release: admitted.release,
      timer: undefined,
      answered: false,
      stuck: false,
    };
    invocation.id = admitted.handle.invocations.add(invocation as Invocation);
    invocation.timer = setTimeout(() => this.#timeOut(invocation as Invocation), this.spec.timeout);
    return invocation;
  }

  #answer<T>(invocation: Invocation<T>, result: T): void {
    if (invocation.answered) return;
    invocation.answered = true;
    const { level, message } = invocation.answers.log(
      result,
      Math.round(performance.now() - invocation.started),
      invocation.label,
    );
    this.#options.logger.log({ fn: this.name, invocationId: invocation.invocationId, level, message });
    invocation.deliver(result);
  }

  /** A fetch's response, as the worker sent it. */
  #respond(invocation: Invocation, response: WireResponse): void {
    this.#answer(invocation, invocation.answers.response(response));
  }

  /** A run's result. */
  #complete(invocation: Invocation, value: unknown): void {
    this.#answer(invocation, invocation.answers.result(value));
  }

  /** A throw, a timeout or a crash. */
  #fail(invocation: Invocation, failure: Failure): void {
    this.#answer(invocation, invocation.answers.failure(failure));
  }

  /** The worker is done with it: its slot is free, and a retired worker may stop. */
  #finish(invocation: Invocation): void {
    clearTimeout(invocation.timer);
    invocation.handle.invocations.delete(invocation.id);
    invocation.release();
    this.#terminateIfIdle(invocation.handle);
  }

  #timeOut(invocation: Invocation) {
    const { handle, id } = invocation;
    const limit = formatDuration(this.spec.timeout);
    this.#options.logger.log({
      fn: this.name,
      invocationId: invocation.invocationId,
      level: "error",
      message: `timed out after ${limit}; the run was cut off and the function recycled`,
    });
    this.#fail(invocation, {
      status: 504,
      message: `function "${this.name}" timed out after ${limit}`,
      reason: `timed out after ${limit}`,
    });
    handle.outbox.now({ type: "abort", id });
    // The function is recycled: new requests go to a fresh worker at once, since this one
    // may be blocked; it finishes what else it runs, then stops.
    if (this.#current === handle) this.#current = undefined;
    this.#retire(handle);
    // A run that ignores its abort signal (or loops forever) no longer keeps its worker alive.
    setTimeout(() => {
      if (!handle.invocations.has(id)) return;
      invocation.stuck = true;
      this.#options.logger.log({
        fn: this.name,
        invocationId: invocation.invocationId,
        level: "warn",
        message: "the timed-out run did not stop; recycling its worker",
      });
      this.#terminateIfIdle(handle);
    }, this.#options.graceMs ?? 500).unref();
  }

  /** A worker for `bundle`; `forReload` when it replaces the running code (see `SpareWorkers.take`). */
  #spawn(bundle: string, forReload = false): WorkerHandle {
    const data: WorkerData = {
      fn: this.name,
      stateDir: this.#options.stateDir,
      clock: this.#options.clock,
      bundle,
      env: this.#options.values,
      links: this.spec.links,
    };
    // The bundle is plain JavaScript with the worker runtime inside: nothing to type-strip.
    const worker = this.#options.workers.take(Math.max(16, Math.round(this.spec.memory / 1_048_576)), forReload);
    worker.ref();
    worker.postMessage({ bundle, runtime: this.#options.runtime, data });
    const { promise: ready, resolve, reject } = Promise.withResolvers<void>();
    ready.catch(() => {});
    const handle = new WorkerHandle(worker, ready);
    this.#handles.add(handle);
    worker.on("message", (data: FromWorker | FromWorker[]) =>
      eachMessage(data, (message) => this.#onMessage(handle, message, resolve, reject)),
    );
    worker.on("error", (error) => {
      // Before `ready`, this is the author's module failing to load.
      reject(new NimbusError("NIMBUS_FUNCTION_LOAD", error.stack ?? error.message));
      this.#options.logger.log({ fn: this.name, level: "error", message: `crashed: ${error.stack ?? error.message}` });
    });
    worker.on("exit", (code) => {
      handle.exited = true;
      this.#handles.delete(handle);
      reject(new NimbusError("NIMBUS_FUNCTION_LOAD", `its worker exited with code ${code} before it was ready`));
      const lost = [...handle.invocations.values()].filter((i) => !i.stuck);
      for (const invocation of handle.invocations.values()) {
        this.#fail(invocation, {
          status: 500,
          message: `function "${this.name}" exited (code ${code}) while handling this request`,
        });
        this.#finish(invocation);
      }
      if (!handle.retired && !this.#stopped) {
        this.#options.logger.log({
          fn: this.name,
          level: "error",
          message: `exited with code ${code}${lost.length ? `, failing ${lost.length} request${lost.length === 1 ? "" : "s"}` : ""}; the next request starts a fresh worker`,
        });
        if (this.#current === handle) this.#current = undefined;
      }
    });
    return handle;
  }

  #onMessage(handle: WorkerHandle, message: FromWorker, ready: () => void, failed: (error: Error) => void) {
    switch (message.type) {
      case "ready":
        ready();
        return;
      case "load-error":
        failed(new NimbusError("NIMBUS_FUNCTION_LOAD", describeError(message.error)));
        this.#retire(handle);
        return;
      case "log":
        this.#options.logger.log({
          fn: this.name,
          invocationId: message.invocationId,
          level: message.level,
          message: message.message,
        });
        return;
      case "response": {
        const invocation = handle.invocations.get(message.id);
        if (!invocation) return;
        this.#respond(invocation, message);
        if (message.done) this.#finish(invocation);
        return;
      }
      case "error": {
        const invocation = handle.invocations.get(message.id);
        this.#options.logger.log({
          fn: this.name,
          invocationId: invocation?.invocationId,
          level: "error",
          message: describeError(message.error),
        });
        if (!invocation) return;
        this.#fail(invocation, {
          status: 500,
          message: `function "${this.name}" threw: ${describeError(message.error)}`,
          reason: `${message.error.name}: ${message.error.message}`,
          value: message.value,
        });
        return;
      }
      case "result": {
        const invocation = handle.invocations.get(message.id);
        if (!invocation) return;
        this.#complete(invocation, message.value);
        if (message.done) this.#finish(invocation);
        return;
      }
      case "done": {
        const invocation = handle.invocations.get(message.id);
        if (invocation) this.#finish(invocation);
        return;
      }
      case "call":
        void this.#serveCall(handle, message);
        return;
      case "notice":
        void this.#serveNotice(message);
        return;
    }
  }

  async #serveNotice(message: Extract<FromWorker, { type: "notice" }>) {
    // As for calls, the link is looked up in the spec: a forged notice reaches only what the function linked.
    const link = this.spec.links.find((l) => l.name === message.binding);
    try {
      if (!link) throw new Error(`function "${this.name}" has no link named "${message.binding}"`);
      await this.#options.callService(link, message.method, message.args, message.invocationId);
    } catch (error) {
      this.#options.logger.log({
        fn: this.name,
        invocationId: message.invocationId,
        level: "error",
        message: `${message.method} on ${message.binding}: ${(error as Error).message}`,
      });
    }
  }

  async #serveCall(handle: WorkerHandle, message: Extract<FromWorker, { type: "call" }>) {
    const reply = (
      answer: { response?: WireResponse; value?: unknown; error?: WireError },
      transfer: TransferListItem[] = [],
    ) => {
      handle.outbox.post({ type: "reply", id: message.id, ...answer }, transfer);
    };
    // The link is looked up in the spec, so a forged message cannot reach a resource the function did not link.
    const link = this.spec.links.find((l) => l.name === message.binding);
    if (!link || (!message.request && message.args === undefined)) {
      reply({ error: { name: "Error", message: `function "${this.name}" has no link named "${message.binding}"` } });
      return;
    }
    try {
      if (!message.request) {
        reply({ value: await this.#options.callService(link, message.method, message.args, message.invocationId) });
        return;
      }
      const { method, url, headers, body } = message.request;
      const request = new Request(url, {
        method,
        headers: headerPairs(headers),
        body: body as RequestBody,
        duplex: "half",
      } as RequestInit);
      const response = await this.#options.callLink(link, message.method, request, message.invocationId);
      const packed = await packBody(response.body);
      reply(
        {
          response: {
            status: response.status,
            statusText: response.statusText,
            headers: packHeaders(response.headers),
            body: packed,
          },
        },
        transferables(packed),
      );
    } catch (error) {
      const { stack: _stack, ...wire } = toWireError(error);
      reply({ error: wire });
    }
  }

  #retire(handle: WorkerHandle) {
    handle.retired = true;
    this.#terminateIfIdle(handle);
  }

  #terminateIfIdle(handle: WorkerHandle) {
    if (handle.retired && !handle.exited && handle.live === 0) void handle.worker.terminate();
  }

  #problem(status: number, message: string, headers: Record<string, string> = {}): Response {
    return new Response(`${message}\n`, {
      status,
      headers: { "content-type": "text/plain; charset=utf-8", ...headers },
    });
  }
}

/** How one kind of invocation answers its caller, and the log line of the answer. */
interface Answers<T> {
  response(response: WireResponse): T;
  result(value: unknown): T;
  failure(failure: Failure): T;
  /** `label`: the invocation's (`GET /path`, a run's). */
  log(result: T, ms: number, label: string): { level: "info" | "error"; message: string };
}

/** A fetch's log line: `GET /path 200 3ms`. */
function answeredLine(response: { status: number }, ms: number, label: string) {
  return { level: "info" as const, message: `${label} ${response.status} ${ms}ms` };
}

/** The request `serveHttp` answers: its absolute URL, and its path as the client sent it (no query). */
export interface HttpTarget {
  url: string;
  path: string;
}

/** The handler methods besides `fetch`. */
export type RunHandler = "queue" | "event" | "scheduled";

/** How a run ended; `value` is what the handler reported (a queue batch's outcomes), also on failure. */
export type RunResult = { ok: true; value: unknown } | { ok: false; error: string; value?: unknown };

/** An invocation's id in logs and `ctx.invocationId`: 8 hex digits, random enough to tell invocations apart in a log. */
function newInvocationId(): string {
  return Math.floor(Math.random() * 0x1_0000_0000)
    .toString(16)
    .padStart(8, "0");
}

/** One of the emulator's own plain-text answers, as a worker's response would come. */
function problemWire(status: number, message: string, headers: Record<string, string> = {}): WireResponse {
  return {
    status,
    statusText: "",
    headers: packHeaders([["content-type", "text/plain; charset=utf-8"], ...Object.entries(headers)]),
    body: `${message}\n`,
  };
}

/** Whether a request off the server has a body to read first (of known length: the others take `fetch`). */
function hasBody(incoming: IncomingMessage): boolean {
  const { method } = incoming;
  return method !== "GET" && method !== "HEAD" && incoming.headers["content-length"] !== undefined;
}

/** A small body of known length, whole, in a buffer of its own (so it moves to the worker without a copy). */
function readAll(incoming: IncomingMessage): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    incoming.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      size += chunk.byteLength;
    });
    incoming.once("error", reject);
    incoming.once("aborted", () => reject(new Error("the client closed the connection")));
    incoming.once("end", () => {
      const body = new Uint8Array(size);
      let offset = 0;
      for (const chunk of chunks) {
        body.set(chunk, offset);
        offset += chunk.byteLength;
      }
      resolve(body);
    });
  });
}

/**
 * Writes a worker's response on the server's response: a whole body at once, and then
 * returns nothing; a stream as it comes, heeding back-pressure, with a promise that
 * settles when it ends.
 */
function writeWire(outgoing: ServerResponse, wire: WireResponse): Promise<void> | undefined {
  const headers = headerList(wire.headers);
  let length = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 14 && name.toLowerCase() === "content-length") length = true;
  }
  const body = nullBodyStatuses.has(wire.status) ? null : wire.body;
  // A string is written with the head in one write, where bytes take two.
  if (typeof body === "string" && !length) headers.push("content-length", String(Buffer.byteLength(body)));
  if (body instanceof Uint8Array && !length) headers.push("content-length", String(body.byteLength));
  if (wire.statusText) outgoing.writeHead(wire.status, wire.statusText, headers);
  else outgoing.writeHead(wire.status, headers);
  if (!(body instanceof ReadableStream)) {
    if (body === null) outgoing.end();
    else outgoing.end(body);
    return undefined;
  }
  return writeStream(outgoing, body);
}

async function writeStream(outgoing: ServerResponse, body: ReadableStream<Uint8Array>): Promise<void> {
  const reader = body.getReader();
  outgoing.once("close", () => {
    if (!outgoing.writableFinished) void reader.cancel().catch(() => {});
  });
  outgoing.flushHeaders();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!outgoing.write(value)) {
        await new Promise<void>((resolve) => {
          const resume = () => {
            outgoing.off("drain", resume);
            outgoing.off("close", resume);
            resolve();
          };
          outgoing.on("drain", resume);
          outgoing.on("close", resume);
        });
      }
      if (outgoing.destroyed) return;
    }
    outgoing.end();
  } catch {
    // The handler's stream failed mid-way: the client sees the connection cut, not a clean end.
    outgoing.destroy();
  }
}

function toResponse(wire: WireResponse): Response {
  const body = nullBodyStatuses.has(wire.status) ? null : wire.body;
  return new Response(body as RequestBody, {
    status: wire.status,
    statusText: wire.statusText,
    headers: headerPairs(wire.headers),
  });
}

/** The error with the author's frames only (every frame with NIMBUS_DEBUG=1). */
function describeError(error: WireError): string {
  return error.stack ? userFrames(error.stack) : `${error.name}: ${error.message}`;
}
