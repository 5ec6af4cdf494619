import { headerPairs, type PackedHeaders } from "./protocol.ts";

/**
 * The Request a worker hands its handler, and the Response it reads back, made cheap for
 * what most invocations touch. A WHATWG Request costs about 6 µs to build with a signal
 * and a Response's body stream about as much again to read, per request, in a thread
 * that serves tens of thousands a second; `@hono/node-server` avoids the same costs the
 * same way.
 *
 * - `lazyRequest`: a Request whose `method`, `url` and `signal` are plain fields; the
 *   first use of anything else (headers, body, clone…) builds the real Request once and
 *   forwards to it. It is `instanceof Request`, and `new Request(it)` and `fetch(it)`
 *   take it as they take a real one.
 * - `Response` is replaced by a subclass that keeps a string body as given, so a
 *   response the handler built from one (`c.text`, `c.json`, `new Response(text)`) is
 *   sent without making or reading a stream.
 *
 * `installLazyWeb` puts both in place; it runs in a function's worker before the
 * handler's module loads.
 */

type BodyInit = ConstructorParameters<typeof Response>[0];
type RequestInput = ConstructorParameters<typeof Request>[0];

interface RequestParts {
  method: string;
  url: string;
  /** Split only once the handler reads them. */
  headers: PackedHeaders;
  body: BodyInit | null;
  /** `request.signal`: aborted when the invocation is cut off. */
  signal: AbortSignal;
}

const parts = Symbol("nimbus.request.parts");
const built = Symbol("nimbus.request.built");
const given = Symbol("nimbus.response.body");
const reader = Symbol("nimbus.response.reader");

interface Lazy {
  [parts]: RequestParts;
  [built]?: Request;
}

const BaseRequest = globalThis.Request;
const BaseResponse = globalThis.Response;
const baseFetch = globalThis.fetch;

function isLazy(value: unknown): value is Lazy {
  return typeof value === "object" && value !== null && parts in value;
}

/** The real Request behind a lazy one, built on first need. */
function realOf(lazy: Lazy): Request {
  let request = lazy[built];
  if (!request) {
    const { method, url, headers, body } = lazy[parts];
    request = new BaseRequest(url, { method, headers: headerPairs(headers), body, duplex: "half" } as RequestInit);
    lazy[built] = request;
  }
  return request;
}

/** `Request`, which also takes a lazy request as its input. Every Request is an instance of it, the platform's own too. */
class NimbusRequest extends BaseRequest {
  constructor(input: RequestInput, init?: RequestInit) {
    if (isLazy(input)) super(realOf(input), { signal: input[parts].signal, ...init });
    else super(input, init);
  }

  static override [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof BaseRequest;
  }
}

/** Statuses whose responses have no body: a string given with one is the platform's TypeError. */
const nullBodyStatuses = new Set([101, 103, 204, 205, 304]);

/**
 * `Response`, keeping a string body as given (see `givenBody`). The body stream a
 * WHATWG Response makes at once, which costs more than the rest of it, is made only if
 * something reads the body: until then the string is held, and the members that read
 * it (`body`, `text()`, `clone()`…) use a Response of the string made on first need.
 */
class NimbusResponse extends BaseResponse {
  [given]: string | undefined;
  [reader]: Response | undefined;

  constructor(body?: BodyInit | null, init?: ResponseInit) {
    if (typeof body !== "string" || nullBodyStatuses.has(Number(init?.status ?? 200))) {
      super(body, init);
      return;
    }
    super(null, init);
    this[given] = body;
    // What the platform adds for a string body.
    if (!this.headers.has("content-type")) this.headers.set("content-type", "text/plain;charset=UTF-8");
  }

  /** Also true of the platform's own Responses (`Response.json`, `fetch`'s). */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return value instanceof BaseResponse;
  }
}

/**
 * The Response that reads a held string body, made once: with the response's status
 * and headers as they are then (a Blob's type is its content-type).
 */
function readerOf(response: NimbusResponse): Response {
  let made = response[reader];
  if (!made) {
    const { status, statusText, headers } = response;
    made = new BaseResponse(response[given], { status, statusText, headers });
    response[reader] = made;
  }
  return made;
}

/** The Response whose body `response`'s body members read: itself, or the reader of the string it holds. */
const bodyOf = (response: NimbusResponse) => (response[given] === undefined ? response : readerOf(response));

for (const key of ["body", "text", "json", "arrayBuffer", "bytes", "blob", "formData"]) {
  const { get, value } = Object.getOwnPropertyDescriptor(BaseResponse.prototype, key)!;
  const forwarded: PropertyDescriptor = get
    ? {
        get(this: NimbusResponse) {
          return get.call(bodyOf(this));
        },
      }
    : {
        value(this: NimbusResponse, ...args: unknown[]) {
          return (value as (...args: unknown[]) => unknown).apply(bodyOf(this), args);
        },
      };
  Object.defineProperty(NimbusResponse.prototype, key, forwarded);
}
const usedOf = Object.getOwnPropertyDescriptor(BaseResponse.prototype, "bodyUsed")!.get!;
Object.defineProperties(NimbusResponse.prototype, {
  // No reader yet: nothing has read the string.
  bodyUsed: {
    get(this: NimbusResponse) {
      if (this[given] === undefined) return usedOf.call(this);
      return this[reader] ? usedOf.call(this[reader]) : false;
    },
  },
  clone: {
    value(this: NimbusResponse): Response {
      const body = this[given];
      if (body === undefined) return BaseResponse.prototype.clone.call(this);
      if (this[reader]) return this[reader].clone();
      return new NimbusResponse(body, { status: this.status, statusText: this.statusText, headers: this.headers });
    },
  },
});

const lazyPrototype: object = Object.create(NimbusRequest.prototype);
for (const key of Reflect.ownKeys(BaseRequest.prototype)) {
  if (key === "constructor" || key === Symbol.toStringTag || key === "method" || key === "url" || key === "signal")
    continue;
  const descriptor = Object.getOwnPropertyDescriptor(BaseRequest.prototype, key)!;
  if (typeof descriptor.value === "function") {
    const method = descriptor.value as (...args: unknown[]) => unknown;
    Object.defineProperty(lazyPrototype, key, {
      value(this: Lazy, ...args: unknown[]) {
        return method.apply(realOf(this), args);
      },
    });
  } else if (descriptor.get) {
    const get = descriptor.get;
    Object.defineProperty(lazyPrototype, key, {
      get(this: Lazy) {
        return get.call(realOf(this));
      },
    });
  }
}
Object.defineProperties(lazyPrototype, {
  method: {
    get(this: Lazy) {
      return this[parts].method;
    },
  },
  url: {
    get(this: Lazy) {
      return this[parts].url;
    },
  },
  signal: {
    get(this: Lazy) {
      return this[parts].signal;
    },
  },
});

/** A Request of these parts, built only as far as the handler uses it. */
export function lazyRequest(init: RequestParts): Request {
  const request = Object.create(lazyPrototype) as Lazy;
  request[parts] = init;
  return request as unknown as Request;
}

/** The string a response was made with, when no one has read its body; else undefined. */
export function givenBody(response: Response): string | undefined {
  const body = (response as { [given]?: string })[given];
  return body === undefined || response.bodyUsed ? undefined : body;
}

/** Makes `Request`, `Response` and `fetch` of this thread those of this module. */
export function installLazyWeb(): void {
  globalThis.Request = NimbusRequest;
  globalThis.Response = NimbusResponse;
  globalThis.fetch = (input, init) =>
    baseFetch(isLazy(input) ? new NimbusRequest(input as unknown as Request) : input, init);
}
