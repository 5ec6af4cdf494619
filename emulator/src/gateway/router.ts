import { formatRoute, type Graph, resourcesOf } from "@nimbus/core";
import { limitBody, tooLarge } from "@nimbus/runtime/target";
import { Hono } from "hono";
import { RegExpRouter } from "hono/router/reg-exp-router";
import { SmartRouter } from "hono/router/smart-router";
import { TrieRouter } from "hono/router/trie-router";
import { getPath, tryDecodeURIComponent } from "hono/utils/url";
import type { FunctionHost } from "../plugins/function/host.ts";

const allMethods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** The app's routes: served as WHATWG requests by `app`, or looked up by `match` for a server that answers on its own. */
export interface Routes {
  readonly app: Hono;
  /**
   * The function `method` and `path` (the path as Hono reads it from a URL: `pathOf`)
   * route to, with the route's parameters; undefined when no route matches. The same
   * routes, in the same order, as `app`'s.
   */
  match(method: string, path: string): RouteMatch | undefined;
}

export interface RouteMatch {
  fn: string;
  /** Its host; undefined while the function is not running. */
  host: FunctionHost | undefined;
  /** Absent when the route has none. */
  params: Record<string, string> | undefined;
}

/** A URL's path as the routes read it (percent-decoded as Hono decodes it). */
export const pathOf = (url: string): string => getPath({ url } as Request);

/**
 * The app's routes, each calling its function's host. Rebuilt from the graph on every
 * app reload; the server swaps them in one step.
 */
export function buildRouter(graph: Graph, hostOf: (fn: string) => FunctionHost | undefined): Routes {
  const app = new Hono();
  // Hono's own router, for `match`: a request the server answers itself makes no Context.
  const router = new SmartRouter<string>({ routers: [new RegExpRouter(), new TrieRouter()] });
  const functions = resourcesOf(graph, "function");
  const listed: string[] = [];
  for (const fn of functions) {
    for (const route of fn.spec.routes) {
      listed.push(`  ${formatRoute(route).padEnd(32)} → ${fn.name}`);
      const methods = route.method === "ANY" ? allMethods : [route.method];
      for (const method of methods) router.add(method, route.path, fn.name);
      app.on(methods, route.path, async (c) => {
        const host = hostOf(fn.name);
        if (!host) return c.text(`function "${fn.name}" is not running\n`, 503);
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
  const match = (method: string, path: string): RouteMatch | undefined => {
    // Hono's result: the matching routes in order, each with its parameters, either as
    // values or as indexes into a shared list (RegExpRouter's form).
    const [found, stash] = router.match(method, path) as [[string, Record<string, string | number>][], string[]?];
    const first = found[0];
    if (!first) return undefined;
    const [fn, slots] = first;
    let params: Record<string, string> | undefined;
    for (const key in slots) {
      params ??= {};
      const raw = stash ? stash[slots[key] as number]! : (slots[key] as string);
      params[key] = raw.includes("%") ? tryDecodeURIComponent(raw) : raw;
    }
    return { fn, host: hostOf(fn), params };
  };
  return { app, match };
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
