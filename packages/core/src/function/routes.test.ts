import { describe, expect, it } from "vitest";
import { parseRoute, routesClash } from "./routes.ts";

describe("parseRoute", () => {
  it("parse: reads method, path, parameters and a trailing wildcard", () => {
    expect(parseRoute("GET /orders/:id")).toEqual({ method: "GET", path: "/orders/:id" });
    expect(parseRoute("ANY /files/*")).toEqual({ method: "ANY", path: "/files/*" });
    expect(parseRoute("POST /")).toEqual({ method: "POST", path: "/" });
  });
  it("parse: explains each malformed route", () => {
    expect(parseRoute("/orders")).toMatch(/expected "<METHOD> \/path"/);
    expect(parseRoute("get /orders")).toMatch(/expected "<METHOD> \/path"/);
    expect(parseRoute("FETCH /orders")).toMatch(/expected a method among GET, HEAD/);
    expect(parseRoute("GET /a/*/b")).toMatch(/"\*" only as the last segment/);
    expect(parseRoute("GET /a/:")).toMatch(/parameter name/);
    expect(parseRoute("GET /a/:id/:id")).toMatch(/each parameter once/);
    expect(parseRoute("GET /a b")).toMatch(/expected "<METHOD> \/path"/);
    expect(parseRoute("GET /a//b")).toMatch(/URL-safe characters/);
  });
});

describe("routesClash", () => {
  it("clash: parameter names do not distinguish routes", () => {
    expect(routesClash({ method: "GET", path: "/o/:id" }, { method: "GET", path: "/o/:orderId" })).toBe(true);
  });
  it("clash: ANY overlaps every method, other methods do not overlap", () => {
    expect(routesClash({ method: "ANY", path: "/o" }, { method: "POST", path: "/o" })).toBe(true);
    expect(routesClash({ method: "GET", path: "/o" }, { method: "POST", path: "/o" })).toBe(false);
    expect(routesClash({ method: "GET", path: "/o" }, { method: "GET", path: "/p" })).toBe(false);
  });
});
