import { type Graph, NimbusError } from "@nimbus/core";
import { Hono } from "hono";

export interface ControlApiOptions {
  graph(): Graph;
  invoke(fn: string, request: Request): Promise<Response>;
}

/**
 * The emulator's own API under `/_nimbus`, used by the CLI: health, the running graph,
 * and direct function invocation. Errors answer `{ error: { code, message } }`.
 */
export function controlApi(options: ControlApiOptions): Hono {
  const api = new Hono().basePath("/_nimbus");
  api.get("/health", (c) => c.json({ ok: true, app: options.graph().app }));
  api.get("/graph", (c) => c.json(options.graph()));
  // `/_nimbus/invoke/<fn>/<path>` calls the function's fetch with `/<path>`, method, headers and body kept.
  api.all("/invoke/:fn/*", async (c) => {
    const fn = c.req.param("fn");
    const url = new URL(c.req.url);
    const prefix = `/_nimbus/invoke/${encodeURIComponent(fn)}`;
    url.pathname = url.pathname.slice(prefix.length) || "/";
    const request = new Request(url, c.req.raw);
    return options.invoke(fn, request);
  });
  api.all("/invoke/:fn", (c) => c.redirect(`${new URL(c.req.url).pathname}/`, 308));
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
      const status = error.code === "NIMBUS_EMULATOR_UNKNOWN_FUNCTION" ? 404 : 400;
      return c.json({ error: { code: error.code, message: error.message } }, status);
    }
    return c.json({ error: { code: "NIMBUS_CONTROL_FAILED", message: (error as Error).message } }, 500);
  });
  return api;
}
