import { timingSafeEqual } from "node:crypto";
import { busDefaults, type Graph, httpStatus, NimbusError } from "@nimbus/core";
import { Hono } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";

/** The header that carries the run's control token. */
export const controlTokenHeader = "x-nimbus-token";

export interface ControlApiOptions {
  /** This run's secret: every request must carry it in {@link controlTokenHeader}. */
  token: string;
  /** Where the token can be read, for the message of a request without it. */
  tokenFile(): string;
  graph(): Graph;
  invoke(fn: string, request: Request): Promise<Response>;
  /** Every queue's stats, by name. */
  queues(): Record<string, unknown>;
  /** The bus's and schedules' deliveries on their way to a target, by route. */
  deliveries(): Record<string, unknown>;
  /** Sends JSON bodies to a queue; returns their ids. */
  send(queue: string, bodies: unknown[]): Promise<string[]>;
  redrive(queue: string): Record<string, number>;
  /** A dead-letter queue's messages, oldest first: where and why each died. */
  deadLettered(queue: string, limit: number): unknown[];
  /** Deletes every message in a queue; returns how many. */
  purge(queue: string): number;
  /** Puts entries (`{ source, detailType, detail, … }`, checked by the bus) on a bus; returns the events' ids. */
  emit(bus: string, entries: unknown[]): Promise<string[]>;
  /** Fires a schedule now; returns the scheduled time (ms since the epoch) its target receives. */
  trigger(schedule: string): Promise<{ scheduledTime: number }>;
}

/** Most entries in one put, as EventBridge's PutEvents and the bus binding. */
const maxEntries = busDefaults.maxEntries;

const entriesBodySchema = z.object({ entries: z.array(z.unknown()).min(1).max(maxEntries) });

/** Why a bus put's body is refused, and how to write it. */
function entriesBodyProblem(body: unknown): string {
  const howTo = `Send { "entries": [{ "source": "shop.api", "detailType": "OrderPaid", "detail": { … } }, …] } with 1 to ${maxEntries} entries`;
  const entries = (body as { entries?: unknown } | null)?.entries;
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return `${howTo}; found ${body === null ? "null" : Array.isArray(body) ? "an array" : `a ${typeof body}`}.`;
  }
  if (!Array.isArray(entries)) return `${howTo}; found ${entries === undefined ? "no" : "a non-list"} "entries".`;
  return `${howTo}; found ${entries.length}.`;
}

/**
 * The emulator's own API under `/_nimbus`, used by the CLI: health, the running graph,
 * direct function invocation, queue sends and redrives, bus puts and schedule triggers.
 * Errors answer `{ error: { code, message } }`.
 *
 * A web page must not drive it: a request a browser sends from a page of another origin
 * is refused, and every request must carry the run's token, which only the state folder
 * holds. No CORS headers are ever sent, so a browser shows no page any answer.
 */
export function controlApi(options: ControlApiOptions): Hono {
  const api = new Hono().basePath("/_nimbus");
  const expected = Buffer.from(options.token);
  api.use(async (c, next) => {
    const origin = c.req.header("origin");
    // Same origin: a page served by this emulator under the name the request was sent to.
    if (origin !== undefined && origin !== `http://${c.req.header("host")}`) {
      throw new NimbusError(
        "NIMBUS_CONTROL_ORIGIN",
        `The control API does not answer web pages of other origins (this request came from ${origin}). Drive it with the nimbus CLI or createEmulator, not from a browser.`,
      );
    }
    const given = Buffer.from(c.req.header(controlTokenHeader) ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new NimbusError(
        "NIMBUS_CONTROL_TOKEN",
        `The control API needs this run's token in the ${controlTokenHeader} header${given.length === 0 ? "" : " (the one sent is not it: is it from an earlier run?)"}. The nimbus CLI and createEmulator send it; other clients read "token" from ${options.tokenFile()}.`,
      );
    }
    await next();
  });
  api.get("/health", (c) => c.json({ ok: true, app: options.graph().app }));
  api.get("/graph", (c) => c.json(options.graph()));
  // `/_nimbus/invoke/<fn>/<path>` calls the function's fetch with `/<path>`, method, headers and body kept.
  api.all("/invoke/:fn/*", async (c) => {
    const fn = c.req.param("fn");
    const url = new URL(c.req.url);
    const prefix = `/_nimbus/invoke/${encodeURIComponent(fn)}`;
    url.pathname = url.pathname.slice(prefix.length) || "/";
    const request = new Request(url, c.req.raw);
    // The token is for the emulator only; the function never sees it.
    request.headers.delete(controlTokenHeader);
    return options.invoke(fn, request);
  });
  api.all("/invoke/:fn", (c) => c.redirect(`${new URL(c.req.url).pathname}/`, 308));
  api.get("/queues", (c) => c.json(options.queues()));
  api.get("/deliveries", (c) => c.json(options.deliveries()));
  // The body is one message's JSON body, or `{ "messages": [body, …] }` with `?batch`.
  api.post("/queues/:queue/messages", async (c) => {
    const body = await c.req.json().catch(() => {
      throw new NimbusError("NIMBUS_CONTROL_BODY", "The request body must be JSON: the message body to send.");
    });
    const batch = c.req.query("batch") !== undefined;
    if (batch && !Array.isArray((body as { messages?: unknown }).messages)) {
      throw new NimbusError("NIMBUS_CONTROL_BODY", 'With ?batch, send { "messages": [body, …] }.');
    }
    const ids = await options.send(c.req.param("queue"), batch ? (body as { messages: unknown[] }).messages : [body]);
    return c.json({ ids }, 201);
  });
  api.post("/queues/:queue/redrive", (c) => c.json({ moved: options.redrive(c.req.param("queue")) }));
  api.get("/queues/:queue/dead-letters", (c) => {
    const limit = Number(c.req.query("limit") ?? 100);
    if (!Number.isInteger(limit) || limit < 1) {
      throw new NimbusError(
        "NIMBUS_CONTROL_BODY",
        `?limit takes a whole number from 1; found "${c.req.query("limit")}".`,
      );
    }
    return c.json({ messages: options.deadLettered(c.req.param("queue"), limit) });
  });
  api.post("/queues/:queue/purge", (c) => c.json({ purged: options.purge(c.req.param("queue")) }));
  api.post("/buses/:bus/events", async (c) => {
    const body: unknown = await c.req.json().catch(() => {
      throw new NimbusError("NIMBUS_CONTROL_BODY", 'The request body must be JSON: { "entries": [entry, …] }.');
    });
    const parsed = entriesBodySchema.safeParse(body);
    if (!parsed.success) throw new NimbusError("NIMBUS_CONTROL_BODY", entriesBodyProblem(body));
    return c.json({ ids: await options.emit(c.req.param("bus"), parsed.data.entries) }, 201);
  });
  api.post("/schedules/:schedule/trigger", async (c) => c.json(await options.trigger(c.req.param("schedule")), 201));
  api.notFound((c) =>
    c.json(
      {
        error: {
          code: "NIMBUS_CONTROL_NOT_FOUND",
          message: `No control endpoint ${c.req.method} ${new URL(c.req.url).pathname}`,
        },
      },
      404,
    ),
  );
  api.onError((error, c) => {
    if (NimbusError.is(error)) {
      return c.json(
        { error: { code: error.code, message: error.message } },
        httpStatus(error.code) as ContentfulStatusCode,
      );
    }
    return c.json({ error: { code: "NIMBUS_CONTROL_FAILED", message: (error as Error).message } }, 500);
  });
  return api;
}
