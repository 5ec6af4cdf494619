import type { RouteSpec } from "@nimbus/core";

/**
 * The parameters of the first of `routes` that `method` and `pathname` match, or `{}`.
 * Used when a function is called directly (a link, `nimbus invoke`) rather than through
 * the gateway, so `ctx.params` means the same either way.
 */
export function routeParams(routes: readonly RouteSpec[], method: string, pathname: string): Record<string, string> {
  const segments = pathname.split("/").slice(1);
  for (const route of routes) {
    if (route.method !== "ANY" && route.method !== method && !(route.method === "GET" && method === "HEAD")) continue;
    const pattern = route.path.split("/").slice(1);
    const params: Record<string, string> = {};
    let matched = true;
    for (let i = 0; i < pattern.length; i++) {
      const part = pattern[i]!;
      if (part === "*" && i === pattern.length - 1) break;
      const segment = segments[i];
      if (segment === undefined) {
        matched = false;
        break;
      }
      if (part.startsWith(":")) params[part.slice(1)] = decodeURIComponent(segment);
      else if (part !== segment) {
        matched = false;
        break;
      }
    }
    const exactLength =
      pattern.at(-1) === "*" ? segments.length >= pattern.length - 1 : segments.length === pattern.length;
    if (matched && exactLength) return params;
  }
  return {};
}
