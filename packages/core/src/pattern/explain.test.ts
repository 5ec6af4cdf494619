import { describe, expect, it } from "vitest";
import { explain } from "./explain.ts";
import type { EventPattern } from "./types.ts";

const order = {
  source: "shop.orders",
  "detail-type": "OrderPlaced",
  detail: {
    total: 0,
    currency: "EUR",
    items: [
      { sku: "A-1", qty: 2 },
      { sku: "B-2", qty: 1 },
    ],
    coupon: null,
  },
};

const fails = (pattern: EventPattern, event: unknown = order) => {
  const result = explain(pattern, event);
  if (result.matched) throw new Error("expected a mismatch");
  return result;
};

describe("explain", () => {
  it("explain: reports a match", () => {
    expect(explain({ source: ["shop.orders"], detail: { currency: ["EUR"] } }, order)).toEqual({ matched: true });
  });

  it("explain: names the numeric bound that failed", () => {
    expect(fails({ detail: { total: [{ numeric: [">", 0] }] } })).toEqual({
      matched: false,
      path: "detail.total",
      operator: "numeric",
      reason: "0 is not > 0",
    });
    expect(fails({ detail: { total: [{ numeric: [">=", -1, "<", 0] }] } }).reason).toBe("0 is not < 0");
    expect(fails({ detail: { currency: [{ numeric: ["=", 1] }] } }).reason).toBe('"EUR" is not a number');
  });

  it("explain: says when a field is missing", () => {
    expect(fails({ detail: { customer: ["alice"] } })).toEqual({
      matched: false,
      path: "detail.customer",
      operator: "equals",
      reason: "field is missing",
    });
    expect(fails({ detail: { customer: [{ exists: true }] } })).toMatchObject({
      operator: "exists",
      reason: "field is missing",
    });
    expect(fails({ detail: { items: [{ exists: true }] } }).reason).toBe("field holds no values, only objects");
    expect(fails({ detail: { tags: ["x"] } }, { detail: { tags: [] } }).reason).toBe("field is an empty list");
    expect(fails({ detail: ["x"] }).reason).toBe("field holds an object, not a value");
  });

  it("explain: reports the first failing field in pattern order", () => {
    const result = fails({
      source: ["shop.orders"],
      "detail-type": ["OrderPaid"],
      detail: { total: [{ numeric: [">", 0] }] },
    });
    expect(result).toEqual({
      matched: false,
      path: "detail-type",
      operator: "equals",
      reason: '"OrderPlaced" is not "OrderPaid"',
    });
  });

  it("explain: describes each operator's failure", () => {
    expect(fails({ source: ["a", "b"] }).reason).toBe('"shop.orders" is not one of ["a", "b"]');
    expect(fails({ source: [{ prefix: "billing." }] })).toMatchObject({
      operator: "prefix",
      reason: '"shop.orders" does not start with "billing."',
    });
    expect(fails({ source: [{ suffix: { "equals-ignore-case": ".PAYMENTS" } }] })).toMatchObject({
      operator: "suffix/equals-ignore-case",
      reason: '"shop.orders" does not end with ".payments" ignoring case',
    });
    expect(fails({ source: [{ "anything-but": "shop.orders" }] })).toMatchObject({
      operator: "anything-but",
      reason: '"shop.orders" is excluded',
    });
    expect(fails({ source: [{ "anything-but": { prefix: "shop." } }] })).toMatchObject({
      operator: "anything-but/prefix",
      reason: '"shop.orders" starts with an excluded prefix',
    });
    expect(fails({ source: [{ wildcard: "*.payments" }] }).reason).toBe('"shop.orders" does not match "*.payments"');
    expect(fails({ detail: { currency: [{ cidr: "10.0.0.0/8" }] } }).reason).toBe('"EUR" is not an IP address');
    expect(fails({ ip: [{ cidr: "10.0.0.0/8" }] }, { ip: "192.168.0.1" }).reason).toBe(
      '"192.168.0.1" is not in 10.0.0.0/8',
    );
    expect(fails({ detail: { coupon: [{ exists: false }] } })).toEqual({
      matched: false,
      path: "detail.coupon",
      operator: "exists",
      reason: "field exists (null)",
    });
  });

  it("explain: lists the operators of a mixed list", () => {
    expect(fails({ source: ["billing", { prefix: "pay" }] })).toMatchObject({
      operator: "equals|prefix",
      reason: '"shop.orders" is not "billing"; "shop.orders" does not start with "pay"',
    });
  });

  it("explain: explains arrays element by element", () => {
    expect(fails({ detail: { items: { sku: ["C-3"] } } })).toEqual({
      matched: false,
      path: "detail.items.sku",
      operator: "equals",
      reason: '"A-1" is not "C-3" (in the first of 2 elements of detail.items; none matched)',
    });
    // sku and qty must hold in the same element.
    expect(fails({ detail: { items: { sku: ["A-1"], qty: [1] } } })).toMatchObject({ path: "detail.items.qty" });
    expect(fails({ tags: ["c"] }, { tags: ["a", "b"] }).reason).toBe('no value of ["a", "b"] matched ("a" is not "c")');
  });

  it("explain: reports the first branch when no $or branch matches", () => {
    const result = fails({ detail: { $or: [{ total: [{ numeric: [">", 0] }] }, { currency: ["USD"] }] } });
    expect(result).toEqual({
      matched: false,
      path: "detail.total",
      operator: "numeric",
      reason: "0 is not > 0 (no $or branch matched; this is the first branch)",
    });
    expect(explain({ detail: { $or: [{ total: [{ numeric: [">", 0] }] }, { currency: ["EUR"] }] } }, order)).toEqual({
      matched: true,
    });
  });

  it("explain: throws for an invalid pattern", () => {
    expect(() => explain({ source: "x" } as unknown as EventPattern, order)).toThrow(/source: expected a list/);
  });

  it("explain: names a dotted pattern key's path like the nested one", () => {
    expect(fails({ "detail.total": [{ numeric: [">", 0] }] })).toEqual({
      matched: false,
      path: "detail.total",
      operator: "numeric",
      reason: "0 is not > 0",
    });
    expect(fails({ detail: { "coupon.code": ["SAVE"] } }).path).toBe("detail.coupon.code");
  });

  it("explain: reads an event field whose name has dots", () => {
    expect(fails({ detail: { total: [{ numeric: [">", 0] }] } }, { "detail.total": 0 })).toEqual({
      matched: false,
      path: "detail.total",
      operator: "numeric",
      reason: "0 is not > 0",
    });
    expect(explain({ detail: { total: [0] } }, { "detail.total": 0 })).toEqual({ matched: true });
  });

  it("explain: shows the values of both spellings when neither matches", () => {
    const event = { detail: { state: "stopped" }, "detail.state": "pending" };
    expect(fails({ "detail.state": ["running"] }, event).reason).toBe(
      'no value of ["stopped", "pending"] matched ("stopped" is not "running")',
    );
    expect(fails({ "detail.state": [{ exists: false }] }, { "detail.state": 5 })).toMatchObject({
      path: "detail.state",
      operator: "exists",
      reason: "field exists (5)",
    });
  });
});
