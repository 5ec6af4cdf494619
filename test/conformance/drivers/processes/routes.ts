import type { Graph } from "@nimbus/core";
import { resourcesOf } from "@nimbus/core";

/** A function's route: `GET /orders/:id` → the function that serves it. */
interface Route {
  method: string;
  segments: string[];
  fn: string;
}

/**
 * The in-driver router of the processes target: finds the function whose route takes a
 * request, as the gateway (Caddy on the docker target, the emulator's gateway) does.
 * Routes with `:param` segments match one segment, a trailing `*` the rest; a literal
 * route wins over a parameter one.
 */
export function routeTable(graph: Graph): (method: string, path: string) => string | undefined {
  const routes: Route[] = [];
  for (const fn of resourcesOf(graph, "function")) {
    for (const route of fn.spec.routes) {
      routes.push({ method: route.method, segments: split(route.path), fn: fn.name });
    }
  }
  // Fewer parameters first, so `/orders/new` is taken before `/orders/:id`.
  const weight = (route: Route) => route.segments.filter((s) => s.startsWith(":") || s === "*").length;
  routes.sort((a, b) => weight(a) - weight(b));
  return (method, path) => {
    const segments = split(path);
    const upper = method.toUpperCase();
    return routes.find(
      (route) =>
        (route.method === "ANY" || route.method === upper || (upper === "HEAD" && route.method === "GET")) &&
        matches(route.segments, segments),
    )?.fn;
  };
}

function split(path: string): string[] {
  return path.split("/").filter((segment) => segment !== "");
}

function matches(pattern: string[], segments: string[]): boolean {
  for (const [index, part] of pattern.entries()) {
    if (part === "*") return true;
    const segment = segments[index];
    if (segment === undefined) return false;
    if (!part.startsWith(":") && part !== segment) return false;
  }
  return pattern.length === segments.length;
}
