import { type HttpMethod, httpMethods, type RouteSpec } from "./spec.ts";

/** A route as authors write it: `"GET /orders/:id"`, `"POST /orders"`, `"ANY /files/*"`. */
export type Route = `${HttpMethod} /${string}`;

const paramSegment = /^:[A-Za-z_][A-Za-z0-9_]*$/;
// RFC 3986 pchar, minus ":" at the start of a segment (a parameter).
const literalSegment =
  /^(?:[A-Za-z0-9\-._~!$&'()+,;=@]|%[0-9A-Fa-f]{2})(?:[A-Za-z0-9\-._~!$&'()+,;=:@]|%[0-9A-Fa-f]{2})*$/;

const example = 'e.g. "GET /orders/:id", "POST /orders" or "ANY /files/*"';

/** The parsed route, or a sentence saying what is wrong with it. */
export function parseRoute(text: string): RouteSpec | string {
  const match = /^([A-Z]+) (\/\S*)$/.exec(text);
  if (!match) return `expected "<METHOD> /path" with one space, ${example}; found "${text}"`;
  const method = match[1] as HttpMethod;
  const path = match[2]!;
  if (!httpMethods.includes(method)) {
    return `expected a method among ${httpMethods.join(", ")}; found "${match[1]}" in "${text}"`;
  }
  if (path === "/") return { method, path };
  const segments = path.slice(1).split("/");
  const names = new Set<string>();
  for (const [index, segment] of segments.entries()) {
    const last = index === segments.length - 1;
    if (segment === "*") {
      if (!last) return `expected "*" only as the last segment; found it inside "${text}", ${example}`;
    } else if (segment.startsWith(":")) {
      if (!paramSegment.test(segment)) {
        return `expected a parameter name of letters, digits and "_" after ":"; found "${segment}" in "${text}"`;
      }
      if (names.has(segment)) return `expected each parameter once; found "${segment}" twice in "${text}"`;
      names.add(segment);
    } else if (segment === "" && last) {
      // A trailing slash is allowed and kept: "/orders/" and "/orders" are different routes, as in Hono's strict mode.
    } else if (!literalSegment.test(segment)) {
      return `expected path segments of URL-safe characters; found "${segment}" in "${text}", ${example}`;
    }
  }
  return { method, path };
}

/**
 * The part of a route that decides which requests it takes: parameter names do not
 * matter, so `/orders/:id` and `/orders/:orderId` claim the same requests.
 */
export function routeShape(route: RouteSpec): string {
  return route.path.replace(/\/:[^/]+/g, "/:");
}

/** Whether two routes claim the same requests (`ANY` overlaps every method). */
export function routesClash(a: RouteSpec, b: RouteSpec): boolean {
  const methods = a.method === b.method || a.method === "ANY" || b.method === "ANY";
  return methods && routeShape(a) === routeShape(b);
}

export function formatRoute(route: RouteSpec): string {
  return `${route.method} ${route.path}`;
}
