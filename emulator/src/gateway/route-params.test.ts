import { describe, expect, it } from "vitest";
import { routeParams } from "./route-params.ts";

const routes = [
  { method: "GET" as const, path: "/orders/:id" },
  { method: "ANY" as const, path: "/files/*" },
  { method: "POST" as const, path: "/orders" },
];

describe("routeParams", () => {
  it("params: fills parameters from the first matching route", () => {
    expect(routeParams(routes, "GET", "/orders/42")).toEqual({ id: "42" });
    expect(routeParams(routes, "HEAD", "/orders/a%20b")).toEqual({ id: "a b" });
  });
  it("params: a wildcard route matches any rest and has no parameters", () => {
    expect(routeParams(routes, "DELETE", "/files/a/b")).toEqual({});
  });
  it("params: no matching route gives no parameters", () => {
    expect(routeParams(routes, "POST", "/orders/42")).toEqual({});
    expect(routeParams(routes, "GET", "/orders/42/items")).toEqual({});
  });
});
