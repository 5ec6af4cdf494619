import type { Bucket, Bus, EventMap, FunctionResource, Queue } from "@nimbus/core";
import type { BucketClient } from "./bucket.ts";
import type { BusClient, BusEvent } from "./bus.ts";
import type { FunctionClient } from "./function.ts";
import type { MessageBatch, QueueClient } from "./queue.ts";

/** The binding for one linked resource. */
export type ClientOf<R> = R extends Bucket
  ? BucketClient
  : R extends Queue<infer Body>
    ? QueueClient<Body>
    : R extends Bus<infer Events>
      ? BusClient<Events>
      : R extends FunctionResource<any, any, any>
        ? FunctionClient
        : never;

/** A function's `env`: one binding per linked resource, its config values and its secrets; nothing else. */
export type EnvOf<F> =
  F extends FunctionResource<infer Links, infer Config, infer Secret>
    ? { readonly [K in keyof Links]: ClientOf<Links[K]> } & Readonly<Config> & { readonly [K in Secret]: string }
    : never;

export interface InvocationContext {
  /** Keeps the invocation alive until the promise settles, after the response is sent. */
  waitUntil(promise: Promise<unknown>): void;
  /** Aborted when the function's timeout is reached. */
  signal: AbortSignal;
  invocationId: string;
}

export interface FetchContext extends InvocationContext {
  /** The route's parameters, e.g. `{ id: "42" }` for `GET /orders/:id`. */
  params: Record<string, string>;
}

export interface ScheduledController {
  /** The schedule's name. */
  schedule: string;
  /** When this tick was due, in ms since the epoch (it may run a little later). */
  scheduledTime: number;
}

type Awaitable<T> = T | Promise<T>;

/** What a handler module's default export may implement. */
export interface Handler<Env, Body = unknown, Events extends EventMap = Record<string, unknown>> {
  fetch?(request: Request, env: Env, ctx: FetchContext): Awaitable<Response>;
  queue?(batch: MessageBatch<Body>, env: Env, ctx: InvocationContext): Awaitable<void>;
  event?(event: BusEvent<Events>, env: Env, ctx: InvocationContext): Awaitable<void>;
  scheduled?(controller: ScheduledController, env: Env, ctx: InvocationContext): Awaitable<void>;
}

type BodyFrom<From> = [From] extends [never] ? unknown : From extends Queue<infer Body> ? Body : never;
type EventsFrom<From> = [From] extends [never]
  ? Record<string, unknown>
  : From extends Bus<infer Events>
    ? Events
    : never;

/**
 * Types a handler module's default export from the app file: `env` from the function's
 * links, config and secrets; `From` (the queue it consumes or the bus whose events it
 * gets) types `batch.messages[i].body` and `event.detail`.
 *
 * @example
 * import type { api } from "../nimbus.app";
 * export default defineHandler<typeof api>({ async fetch(request, env) { ... } });
 */
export function defineHandler<F extends FunctionResource<any, any, any>, From = never>(
  handler: Handler<EnvOf<F>, BodyFrom<From>, EventsFrom<From>>,
): Handler<EnvOf<F>, BodyFrom<From>, EventsFrom<From>> {
  return handler;
}
