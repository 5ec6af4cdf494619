import { App } from "@nimbus/core";
import { describe, expect, it } from "vitest";
import { buildRouter, pathOf } from "./router.ts";

const app = new App("routes");
app.function("orders", { handler: "./orders.ts", routes: ["GET /orders/:id", "POST /orders", "GET /orders/new"] });
app.function("files", { handler: "./files.ts", routes: ["ANY /files/*"] });
app.function("search", { handler: "./search.ts", routes: ["GET /search/:term/:page"] });

// No function runs here: the Hono app then names the function it routed to in its 503.
const routes = buildRouter(app.toGraph(), () => undefined);

async function routedByApp(method: string, url: string): Promise<string | undefined> {
  const response = await routes.app.fetch(new Request(url, { method }));
  return /^function "([^"]+)" is not running/.exec(await response.text())?.[1];
}

describe("buildRouter: match", () => {
  it("routes each request to the function the Hono app does", async () => {
    const cases: [string, string][] = [
      ["GET", "http://app.localhost/orders/42"],
      ["POST", "http://app.localhost/orders"],
      ["GET", "http://app.localhost/orders/new"],
      ["DELETE", "http://app.localhost/orders/42"],
      ["PATCH", "http://app.localhost/files/a/b/c.txt"],
      ["GET", "http://app.localhost/files/"],
      ["GET", "http://app.localhost/search/tea/2?x=1"],
      ["GET", "http://app.localhost/nowhere"],
      ["GET", "http://app.localhost/orders/42/"],
    ];
    for (const [method, url] of cases) {
      expect(routes.match(method, pathOf(url))?.fn, `${method} ${url}`).toBe(await routedByApp(method, url));
    }
  });

  it("gives the route's parameters, percent-decoded", () => {
    expect(routes.match("GET", pathOf("http://app.localhost/orders/a%20b"))?.params).toEqual({ id: "a b" });
    expect(routes.match("GET", pathOf("http://app.localhost/search/green%2Ftea/3"))?.params).toEqual({
      term: "green/tea",
      page: "3",
    });
  });

  it("gives no parameters for a route without any", () => {
    const found = routes.match("PUT", pathOf("http://app.localhost/files/x"));
    expect(found?.fn).toBeDefined();
    expect(found?.params).toBeUndefined();
  });

  it("is undefined for a method the route does not take", () => {
    expect(routes.match("PUT", pathOf("http://app.localhost/orders/42"))).toBeUndefined();
  });
});
