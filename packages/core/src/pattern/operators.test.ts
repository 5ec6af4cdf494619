import { describe, expect, it } from "vitest";
import { cidrContains, parseCidr, parseIp } from "./cidr.ts";
import { matchesPattern } from "./match.ts";
import { fixedPoint, numberKey } from "./numbers.ts";
import type { EventPattern } from "./types.ts";
import { parseWildcard, wildcardMatcher } from "./wildcard.ts";

const wildcard = (text: string) => {
  const parsed = parseWildcard(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return wildcardMatcher(parsed.segments);
};

const block = (text: string) => {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(parsed.message);
  return parsed.block;
};

describe("wildcard", () => {
  it("wildcard: * matches any run of characters, including none", () => {
    const matches = wildcard("dir/*.png");
    expect(matches("dir/.png")).toBe(true);
    expect(matches("dir/a/b.png")).toBe(true);
    expect(matches("dir/a.jpg")).toBe(false);
    expect(wildcard("*")("")).toBe(true);
    expect(wildcard("a*a")("a")).toBe(false);
    expect(wildcard("a*a")("aa")).toBe(true);
    expect(wildcard("*ab*ab*")("xabyab")).toBe(true);
    expect(wildcard("*ab*ab*")("xab")).toBe(false);
  });

  it("wildcard: escapes match a literal asterisk and backslash", () => {
    expect(wildcard("a\\*b")("a*b")).toBe(true);
    expect(wildcard("a\\*b")("axb")).toBe(false);
    expect(wildcard("a\\\\*")("a\\anything")).toBe(true);
    expect(wildcard("\\**")("*star")).toBe(true);
    expect(wildcard("\\**")("star")).toBe(false);
  });

  it("wildcard: without * it is an exact match", () => {
    expect(wildcard("abc")("abc")).toBe(true);
    expect(wildcard("abc")("abcd")).toBe(false);
    expect(wildcard("")("")).toBe(true);
  });
});

describe("cidr", () => {
  it("cidr: parses IPv4, IPv6 and IPv4-in-IPv6 addresses", () => {
    expect(parseIp("10.0.0.1")?.family).toBe(4);
    expect(parseIp("::")?.bytes).toEqual(new Uint8Array(16));
    expect(parseIp("::ffff:10.0.0.1")?.bytes.slice(10)).toEqual(new Uint8Array([255, 255, 10, 0, 0, 1]));
    expect(parseIp("2001:db8::1")?.bytes[15]).toBe(1);
    for (const bad of [
      "10.0.0",
      "10.0.0.01",
      "1.2.3.4.5",
      "256.0.0.1",
      "1::2::3",
      "12345::",
      ":1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "fe80::1%eth0",
      "",
    ]) {
      expect(parseIp(bad), bad).toBeUndefined();
    }
  });

  it("cidr: checks membership bit by bit, also for masks not on a byte boundary", () => {
    expect(cidrContains(block("10.0.0.0/24"), "10.0.0.255")).toBe(true);
    expect(cidrContains(block("10.0.0.0/24"), "10.0.1.0")).toBe(false);
    expect(cidrContains(block("10.0.0.0/20"), "10.0.15.1")).toBe(true);
    expect(cidrContains(block("10.0.0.0/20"), "10.0.16.1")).toBe(false);
    expect(cidrContains(block("10.0.0.9/24"), "10.0.0.1")).toBe(true);
    expect(cidrContains(block("0.0.0.0/0"), "255.255.255.255")).toBe(true);
    expect(cidrContains(block("10.0.0.1/32"), "10.0.0.1")).toBe(true);
    expect(cidrContains(block("2001:db8::/32"), "2001:0db8:ffff::1")).toBe(true);
    expect(cidrContains(block("2001:db8::/33"), "2001:db8:8000::")).toBe(false);
  });

  it("cidr: never matches across address families or non-addresses", () => {
    expect(cidrContains(block("0.0.0.0/0"), "::ffff:10.0.0.1")).toBe(false);
    expect(cidrContains(block("::/0"), "10.0.0.1")).toBe(false);
    expect(cidrContains(block("0.0.0.0/0"), "not an ip")).toBe(false);
  });
});

describe("numbers", () => {
  it("numbers: compare at six decimal places, as EventBridge does", () => {
    expect(numberKey(300)).toBe(numberKey(3e2));
    expect(numberKey(300)).toBe(numberKey(300.0000001));
    expect(numberKey(300)).not.toBe(numberKey(300.000001));
    expect(fixedPoint(-1)).toBeLessThan(fixedPoint(-0.999999));
    expect(matchesPattern({ n: [{ numeric: [">", 0] }] }, { n: 0.0000001 })).toBe(false);
    expect(matchesPattern({ n: [{ numeric: ["=", 3.018e2] }] }, { n: 301.8 })).toBe(true);
  });

  it("numbers: beyond ±5e9 exact values still match, numeric comparisons never do", () => {
    expect(matchesPattern({ account: [123456789012] }, { account: 123456789012 })).toBe(true);
    expect(matchesPattern({ account: [123456789012] }, { account: 123456789013 })).toBe(false);
    expect(matchesPattern({ n: [{ numeric: [">", 0] }] }, { n: 6e9 })).toBe(false);
    expect(matchesPattern({ n: [{ numeric: ["<=", 5e9] }] }, { n: 5e9 })).toBe(true);
    expect(matchesPattern({ n: [{ "anything-but": 5 }] }, { n: 6e9 })).toBe(true);
  });
});

describe("value types", () => {
  it("matchesPattern: string operators match only strings, anything-but lets other types through", () => {
    const event = { n: 12, b: true, z: null, s: "12" };
    expect(matchesPattern({ n: [{ prefix: "1" }] }, event)).toBe(false);
    expect(matchesPattern({ n: ["12"] }, event)).toBe(false);
    expect(matchesPattern({ s: [12] }, event)).toBe(false);
    expect(matchesPattern({ b: ["true"] }, event)).toBe(false);
    expect(matchesPattern({ b: [true] }, event)).toBe(true);
    expect(matchesPattern({ n: [{ "anything-but": { prefix: "init" } }] }, event)).toBe(true);
    expect(matchesPattern({ z: [{ "anything-but": { wildcard: "*" } }] }, event)).toBe(true);
    expect(matchesPattern({ s: [{ "anything-but": 12 }] }, event)).toBe(true);
    expect(matchesPattern({ n: [{ "anything-but": "12" }] }, event)).toBe(true);
  });

  it("matchesPattern: anything-but and numeric need a value; exists true accepts null", () => {
    expect(matchesPattern({ x: [{ "anything-but": "a" }] }, {})).toBe(false);
    expect(matchesPattern({ x: [{ "anything-but": "a" }] }, { x: [] })).toBe(false);
    expect(matchesPattern({ x: [{ numeric: [">", 0] }] }, { x: null })).toBe(false);
    expect(matchesPattern({ x: [{ exists: true }] }, { x: null })).toBe(true);
    expect(matchesPattern({ x: [{ exists: false }] }, { x: null })).toBe(false);
    expect(matchesPattern({ x: [{ exists: false }] }, { x: [] })).toBe(true);
  });

  it("matchesPattern: anything-but on an array matches when some element is not excluded", () => {
    expect(matchesPattern({ x: [{ "anything-but": "a" }] }, { x: ["a", "b"] })).toBe(true);
    expect(matchesPattern({ x: [{ "anything-but": "a" }] }, { x: ["a", "a"] })).toBe(false);
  });

  it("matchesPattern: a list mixing exists false with values, inside arrays", () => {
    const pattern: EventPattern = { a: { b: [{ exists: false }, "x"] } };
    // Absent everywhere, or "x" in some element.
    expect(matchesPattern(pattern, { a: [{ c: 1 }, { c: 2 }] })).toBe(true);
    expect(matchesPattern(pattern, { a: [{ b: "y" }, { b: "x" }] })).toBe(true);
    expect(matchesPattern(pattern, { a: [{ b: "y" }, { c: 2 }] })).toBe(false);
    expect(matchesPattern(pattern, { a: [] })).toBe(true);
  });

  it("matchesPattern: exists false inside arrays", () => {
    // Absent from every element: the field does not exist in the event.
    expect(matchesPattern({ a: { b: [{ exists: false }] } }, { a: [{ c: 1 }, { c: 2 }] })).toBe(true);
    expect(matchesPattern({ a: { b: [{ exists: false }] } }, { a: [{ c: 1 }, { b: 2 }] })).toBe(false);
    // Judged in the element the other fields matched.
    const items = { items: [{ sku: "A" }, { sku: "B", discount: 5 }] };
    expect(matchesPattern({ items: { sku: ["A"], discount: [{ exists: false }] } }, items)).toBe(true);
    expect(matchesPattern({ items: { sku: ["B"], discount: [{ exists: false }] } }, items)).toBe(false);
  });

  it("matchesPattern: inherited object properties are not fields", () => {
    expect(matchesPattern({ constructor: [{ exists: true }] }, {})).toBe(false);
    expect(matchesPattern({ toString: [{ exists: false }] }, {})).toBe(true);
  });

  it("matchesPattern: the last mention of a field in one branch wins", () => {
    const pattern: EventPattern = { a: ["x"], $or: [{ a: ["y"] }, { b: [1] }] };
    expect(matchesPattern(pattern, { a: "y" })).toBe(true);
    expect(matchesPattern(pattern, { a: "x", b: 1 })).toBe(true);
    expect(matchesPattern(pattern, { a: "x" })).toBe(false);
  });

  it("matchesPattern: throws a PatternError for an invalid pattern", () => {
    expect(() => matchesPattern({ source: [] }, {})).toThrow(/source: empty lists are not allowed/);
  });
});
