import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { serve } from "@hono/node-server";
import type { FunctionSpec } from "@nimbus/core";
import { Hono } from "hono";
import { limitBody, tooLarge } from "../body-limit.ts";

const allMethods = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

/** Paths the host keeps for itself; a function's routes never reach them. */
export const healthPaths = { live: "/_nimbus/health/live", ready: "/_nimbus/health/ready" } as const;

/** What the readiness endpoint reports: ready, or what the host still waits for. */
export interface Readiness {
  ready: boolean;
  /** What is not there yet, e.g. `["handler", "nats"]`, or `["stopping"]`. */
  waiting: string[];
}

export interface HostAppOptions {
  /** The function served; its routes and `maxBodySize`. Absent for the control role (health only). */
  fn?: { name: string; spec: FunctionSpec };
  readiness(): Readiness;
  /** Serves one request with its route's parameters; never rejects. */
  invoke?(request: Request, params: Record<string, string>): Promise<Response>;
}

/**
 * The host's HTTP app: the health endpoints, then the function's routes from its spec
 * with their parameters, under its `maxBodySize`. A request no route takes still reaches
 * the function, with no parameters: that is how linked functions call it, as in the
 * emulator, where a link calls `fetch` directly.
 */
export function hostApp(options: HostAppOptions): Hono {
  const app = new Hono();
  app.get(healthPaths.live, (c) => c.json({ status: "live" }));
  app.get(healthPaths.ready, (c) => {
    const readiness = options.readiness();
    return c.json(
      readiness.ready ? { status: "ready" } : { status: "not ready", waiting: readiness.waiting },
      readiness.ready ? 200 : 503,
    );
  });
  const { fn, invoke } = options;
  if (!fn || !invoke) return app;
  const call = (request: Request, params: Record<string, string>) =>
    limited(request, fn.spec.maxBodySize, (r) => invoke(r, params));
  for (const route of fn.spec.routes) {
    const methods = route.method === "ANY" ? allMethods : [route.method];
    app.on(methods, route.path, (c) => call(c.req.raw, c.req.param() as Record<string, string>));
  }
  app.all("*", (c) => call(c.req.raw, {}));
  return app;
}

/** Calls `invoke` with the request's body counted against `maxBytes`; over it, 413. */
async function limited(
  request: Request,
  maxBytes: number,
  invoke: (request: Request) => Promise<Response>,
): Promise<Response> {
  const length = request.headers.get("content-length");
  // Node's parser holds a body to its declared length, and a GET or HEAD has none; so
  // only a body of unknown length is counted. Not reading `request.body` for the others
  // spares @hono/node-server building a full Request for each one.
  if (length !== null || request.method === "GET" || request.method === "HEAD" || !request.body) {
    return length !== null && Number(length) > maxBytes ? tooLarge(maxBytes) : invoke(request);
  }
  const counted = limitBody(request, maxBytes);
  if (counted instanceof Response) return counted;
  const response = await invoke(counted.request);
  if (!counted.exceeded()) return response;
  await response.body?.cancel().catch(() => {});
  return tooLarge(maxBytes);
}

/** A started HTTP server and the port it listens on. */
export interface Listening {
  server: Server;
  port: number;
  /** Stops taking connections (idle keep-alive ones are closed); resolves once every open one has ended. */
  close(): Promise<void>;
}

/** Serves `app` on `hostname:port` with `@hono/node-server`, in this process. */
export async function listen(app: Hono, port: number, hostname: string): Promise<Listening> {
  const { promise, resolve, reject } = Promise.withResolvers<number>();
  const server = serve({ fetch: app.fetch, port, hostname }, (info: AddressInfo) => resolve(info.port)) as Server;
  server.once("error", reject);
  const bound = await promise;
  return {
    server,
    port: bound,
    close: () =>
      new Promise<void>((done) => {
        server.close(() => done());
        server.closeIdleConnections();
      }),
  };
}
