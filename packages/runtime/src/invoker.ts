import { type Chain, chainStartedBy } from "@nimbus/core";
import type { FetchContext, InvocationContext } from "./handler.ts";
import { messageBatch, type QueueRunPayload } from "./message-batch.ts";

/** The handlers a target runs with a payload (a queue batch, a bus event, a schedule's tick) rather than a Request. */
export type RunHandlerName = "queue" | "event" | "scheduled";

export interface InvocationOptions {
  /** The id handlers see as `ctx.invocationId`, and logs carry. */
  invocationId: string;
  /**
   * `ctx.signal`: the target aborts it when the function's timeout is reached.
   * @default the request's signal for `fetch`; for a run, a signal that never aborts
   */
  signal?: AbortSignal;
  /**
   * The chain the invocation runs in (docs/semantics.md, "Recursive loops"): for a
   * delivery, one deeper than what sent it (core's `deliveredChain`).
   * @default a new chain at depth 1, named after the invocation: nothing of the app caused it
   */
  chain?: Chain;
}

/**
 * Where the chain of the running invocation is kept while its handler runs, so that the
 * binding calls it makes (awaited or not) carry it: Node's `AsyncLocalStorage<Chain>`
 * fits, which the runtime does not import itself (it avoids Node built-ins); the
 * emulator's worker and the deployed host pass one in.
 */
export interface ChainStorage {
  run<R>(chain: Chain, callback: () => R): R;
  getStore(): Chain | undefined;
}

export interface FetchInvocationOptions extends InvocationOptions {
  /** The route's parameters, as `ctx.params`. */
  params: Record<string, string>;
}

/** Settles when every promise the handler gave `ctx.waitUntil` has; absent when it gave none by the time it returned. */
interface Lingering {
  done?: Promise<void>;
}

/** The handler's Response, or what it threw (or why it could not be called). */
export type FetchResult = ({ response: Response } | { error: unknown }) & Lingering;

/**
 * What a run reported (a queue batch's settled messages; `undefined` for other
 * handlers), also when the handler threw: settlements made before the throw count.
 */
export type RunResult = ({ value: unknown } | { error: unknown; value: unknown }) & Lingering;

/** Serves invocations of one handler module; the target carries requests and payloads to it and the results back. */
export interface HandlerInvoker {
  fetch(request: Request, options: FetchInvocationOptions): Promise<FetchResult>;
  run(handler: RunHandlerName, payload: unknown, options: InvocationOptions): Promise<RunResult>;
}

type Method = (argument: unknown, env: unknown, ctx: unknown) => unknown;

/**
 * The serving of a function's invocations, the same in every target: checks the handler
 * module's default export, dispatches to its `fetch`, `queue`, `event` or `scheduled`
 * with `env` and a `ctx`, and turns what it returns or throws into a result. Throws a
 * TypeError, saying how to fix it, when the module has no handler object as its default export.
 */
export function handlerInvoker(
  module: { default?: unknown },
  env: unknown,
  options: {
    /** The function's name, for messages. */
    name: string;
    /** Keeps each invocation's chain for the bindings' clients; without it, binding calls carry no chain. */
    chains?: ChainStorage;
  },
): HandlerInvoker {
  const handler = module.default;
  if (typeof handler !== "object" || handler === null) {
    throw new TypeError(
      `the handler module must \`export default defineHandler({ ... })\`; found ${describe(handler)} as its default export`,
    );
  }
  // Bound once per method, not per invocation.
  const bound = new Map<string, Method>();
  const method = (name: string): Method => {
    const known = bound.get(name);
    if (known) return known;
    const found = (handler as Record<string, unknown>)[name];
    if (typeof found !== "function") {
      throw new Error(`function "${options.name}" has no ${name} handler in its default export`);
    }
    const made = (found as Method).bind(handler);
    bound.set(name, made);
    return made;
  };
  const within = <R>(invocationId: string, chain: Chain | undefined, callback: () => R): R =>
    options.chains ? options.chains.run(chain ?? chainStartedBy(invocationId), callback) : callback();

  return {
    async fetch(request, { invocationId, signal, params, chain }) {
      const { ctx, lingering } = invocationContext<FetchContext>(invocationId, signal ?? request.signal, params);
      try {
        const fetch = method("fetch");
        const response = await within(invocationId, chain, () => fetch(request, env, ctx));
        if (!(response instanceof Response)) {
          throw new TypeError(
            `fetch must return a Response; function "${options.name}" returned ${describe(response)}`,
          );
        }
        return { response, done: lingering() };
      } catch (error) {
        return { error, done: lingering() };
      }
    },
    async run(name, payload, { invocationId, signal, chain }) {
      const { ctx, lingering } = invocationContext<InvocationContext>(
        invocationId,
        signal ?? new AbortController().signal,
      );
      let report: () => unknown = () => undefined;
      try {
        const run = method(name);
        let argument = payload;
        if (name === "queue") {
          const { batch, outcomes } = messageBatch(payload as QueueRunPayload);
          argument = batch;
          report = outcomes;
        }
        await within(invocationId, chain, () => run(argument, env, ctx));
        return { value: report(), done: lingering() };
      } catch (error) {
        return { error, value: report(), done: lingering() };
      }
    },
  };
}

/**
 * An invocation's `ctx` (a fetch's with its `params`), and the wait for what it was
 * given to `waitUntil`: undefined when it was given nothing.
 */
function invocationContext<C extends InvocationContext>(
  invocationId: string,
  signal: AbortSignal,
  params?: Record<string, string>,
) {
  const pending: Promise<unknown>[] = [];
  const waitUntil = (promise: unknown) => {
    pending.push(
      Promise.resolve(promise).catch((error: unknown) => console.error("waitUntil promise rejected:", error)),
    );
  };
  const ctx = (params ? { signal, invocationId, waitUntil, params } : { signal, invocationId, waitUntil }) as C;
  const lingering = (): Promise<void> | undefined =>
    pending.length === 0 ? undefined : Promise.all(pending).then(() => {});
  return { ctx, lingering };
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  return typeof value === "object" ? `an object (${value.constructor?.name ?? "Object"})` : typeof value;
}
