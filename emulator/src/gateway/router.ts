import type { IncomingMessage, ServerResponse } from "node:http";
import { formatRoute, type Graph, resourcesOf } from "@nimbus/core";
import { limitBody, tooLarge } from "@nimbus/runtime/target";
import { Hono } from "hono";
import type { FunctionHost } from "../plugins/function/host.ts";

const allMethods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** The server's request and response, passed as the router's env when the server calls it directly (no WHATWG objects made). */
export interface NodeBindings {
  incoming: IncomingMessage;
  outgoing: ServerResponse;
  /** The request's full URL. */
  url: string;
}

/** What a route answers when it has written its response on `outgoing` itself. */
export const answeredDirectly: Response = new Response(null, { status: 299 });

/**
 * The app's routes as a Hono app: each route calls its function's host. Rebuilt from
 * the graph on every app reload; the server swaps it in one step.
 */
export function buildRouter(graph: Graph, hostOf: (fn: string) => FunctionHost | undefined): Hono {
  const app = new Hono();
  const functions = resourcesOf(graph, "function");
  const listed: string[] = [];
  for (const fn of functions) {
    for (const route of fn.spec.routes) {
      listed.push(`  ${formatRoute(route).padEnd(32)} → ${fn.name}`);
      const methods = route.method === "ANY" ? allMethods : [route.method];
      app.on(methods, route.path, async (c) => {
        const host = hostOf(fn.name);
        if (!host) return c.text(`function "${fn.name}" is not running\n`, 503);
        const node = c.env as NodeBindings | undefined;
        if (node?.outgoing) {
          const declared = Number(node.incoming.headers["content-length"] ?? Number.NaN);
          if (declared > host.spec.maxBodySize) return tooLarge(host.spec.maxBodySize);
          await host.serveHttp(node.incoming, node.outgoing, node.url, c.req.param() as Record<string, string>);
          return answeredDirectly;
        }
        return serve(host, c.req.raw, c.req.param() as Record<string, string>);
      });
    }
  }
  app.notFound((c) =>
    c.text(
      `No route matches ${c.req.method} ${new URL(c.req.url).pathname}.\n\nRoutes of app "${graph.app}":\n${listed.join("\n") || "  (none)"}\n`,
      404,
    ),
  );
  return app;
}

/** Calls a function's `fetch` under its body size limit. */
export async function serve(host: FunctionHost, request: Request, params: Record<string, string>): Promise<Response> {
  const limited = limitBody(request, host.spec.maxBodySize);
  if (limited instanceof Response) return limited;
  const response = await host.fetch(limited.request, params, () =>
    limited.exceeded() ? tooLarge(host.spec.maxBodySize) : undefined,
  );
  if (limited.exceeded()) {
    await response.body?.cancel().catch(() => {});
    return tooLarge(host.spec.maxBodySize);
  }
  return response;
}
