import { describe, expect, it } from "vitest";
import { matchesPattern } from "./match.ts";
import { PatternError } from "./pattern-error.ts";
import { compileRules } from "./rules.ts";
import type { EventPattern, PatternRule } from "./types.ts";

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(next: () => number, list: readonly T[]): T => list[Math.floor(next() * list.length)] as T;

const sources = ["shop.orders", "shop.payments", "shop.users", "aws.ec2", "billing"];
const detailTypes = ["Created", "Updated", "Deleted", "Paid", "Failed"];
const states = ["pending", "running", "stopped", "init-1"];

function generateEvent(next: () => number): Record<string, unknown> {
  const detail: Record<string, unknown> = {
    state: pick(next, states),
    total: pick(next, [0, 1, 2.5, 300, 3e2, -4, 1e10]),
    tags: next() < 0.5 ? [pick(next, ["a", "b"]), pick(next, ["c", "d"])] : [],
    customer: next() < 0.7 ? { tier: pick(next, ["gold", "silver"]), id: pick(next, [1, 2, 3]) } : "anonymous",
  };
  if (next() < 0.3) delete detail.state;
  if (next() < 0.2)
    detail.items = [
      { sku: pick(next, ["A", "B"]), qty: pick(next, [1, 2]) },
      { sku: "C", qty: 3 },
    ];
  return { source: pick(next, sources), "detail-type": pick(next, detailTypes), detail, resources: [] };
}

function generatePattern(next: () => number): EventPattern {
  const detail: Record<string, unknown> = {};
  const extra = [
    () =>
      (detail.state = [pick(next, [{ prefix: "init" }, { "anything-but": "stopped" }, "running", { exists: false }])]),
    () =>
      (detail.total = [pick(next, [{ numeric: [">", 0] }, { numeric: [">=", 1, "<", 300] }, 300, { exists: true }])]),
    () => (detail.tags = [pick(next, ["a", "c", { "anything-but": ["a", "c"] }])]),
    () => (detail.customer = { tier: [pick(next, ["gold", { "equals-ignore-case": "SILVER" }])] }),
    () => (detail.items = { sku: [pick(next, ["A", "B"])], qty: [pick(next, [1, 2, { numeric: ["<", 3] }])] }),
  ];
  for (const add of extra) if (next() < 0.3) add();
  const pattern: Record<string, unknown> = {};
  const shape = next();
  if (shape < 0.6) {
    pattern.source = [pick(next, sources)];
    pattern["detail-type"] =
      next() < 0.8 ? [pick(next, detailTypes)] : [pick(next, detailTypes), pick(next, detailTypes)];
  } else if (shape < 0.75) {
    pattern.source = [pick(next, sources), pick(next, sources)];
  } else if (shape < 0.85) {
    pattern.source = [{ prefix: "shop." }];
  } else {
    pattern.$or = [{ source: [pick(next, sources)] }, { "detail-type": [pick(next, detailTypes)] }];
  }
  if (Object.keys(detail).length > 0) pattern.detail = detail;
  if (Object.keys(pattern).length === 0) pattern.source = ["billing"];
  return pattern as EventPattern;
}

const oneByOne = (rules: readonly PatternRule[], event: unknown) =>
  rules.filter((rule) => matchesPattern(rule.pattern, event)).map((rule) => rule.name);

describe("compileRules", () => {
  it("compileRules: agrees with matchesPattern on every rule for many events", () => {
    const next = random(42);
    const rules = Array.from({ length: 400 }, (_, i) => ({ name: `rule-${i}`, pattern: generatePattern(next) }));
    const compiled = compileRules(rules);
    expect(compiled.size).toBe(400);
    let matches = 0;
    for (let i = 0; i < 2000; i++) {
      const event = generateEvent(next);
      const expected = oneByOne(rules, event);
      matches += expected.length;
      expect(compiled.match(event), JSON.stringify(event)).toEqual(expected);
    }
    // The generated rules and events must actually exercise matches.
    expect(matches).toBeGreaterThan(2000);
  }, 30_000);

  it("compileRules: returns names in the order the rules were given", () => {
    const compiled = compileRules([
      { name: "third-by-index", pattern: { detail: { n: [{ numeric: [">", 0] }] } } },
      { name: "by-source", pattern: { source: ["a"] } },
      { name: "by-or", pattern: { $or: [{ source: ["a"] }, { "detail-type": ["x"] }] } },
      { name: "by-both", pattern: { source: ["a"], "detail-type": ["x"] } },
    ]);
    expect(compiled.match({ source: "a", "detail-type": "x", detail: { n: 1 } })).toEqual([
      "third-by-index",
      "by-source",
      "by-or",
      "by-both",
    ]);
    expect(compiled.match({ source: "b", "detail-type": "x" })).toEqual(["by-or"]);
    expect(compiled.match({})).toEqual([]);
  });

  it("compileRules: a rule matching through several branches or values is named once", () => {
    const compiled = compileRules([
      { name: "r", pattern: { $or: [{ source: ["a"] }, { tags: ["x", "y"] }] } },
      { name: "s", pattern: { tags: ["x", "y"] } },
    ]);
    expect(compiled.match({ source: "a", tags: ["y", "x", "x"] })).toEqual(["r", "s"]);
  });

  it("compileRules: indexes numbers by value, so 300 finds a rule written as 3e2", () => {
    const compiled = compileRules([
      { name: "n", pattern: { detail: { total: [3e2] } } },
      { name: "b", pattern: { flag: [true], nothing: [null] } },
    ]);
    expect(compiled.match({ detail: { total: 300 } })).toEqual(["n"]);
    expect(compiled.match({ detail: { total: 300.0000001 } })).toEqual(["n"]);
    expect(compiled.match({ detail: { total: "300" } })).toEqual([]);
    expect(compiled.match({ flag: true, nothing: null })).toEqual(["b"]);
    expect(compiled.match({ flag: "true", nothing: null })).toEqual([]);
  });

  it("compileRules: never confuses a number beyond ±5e9 with a fixed-point key", () => {
    // fixed point of -4999994000 is 6e9, the raw value of the other rule's number.
    const compiled = compileRules([
      { name: "big", pattern: { n: [6e9] } },
      { name: "small", pattern: { n: [-4999994000] } },
    ]);
    expect(compiled.match({ n: 6e9 })).toEqual(["big"]);
    expect(compiled.match({ n: -4999994000 })).toEqual(["small"]);
  });

  it("compileRules: finds indexed values inside arrays and keeps array elements consistent", () => {
    const compiled = compileRules([
      { name: "anna-jones", pattern: { employees: { first: ["Anna"], last: ["Jones"] } } },
    ]);
    expect(compiled.match({ employees: [{ first: "Anna", last: "Jones" }] })).toEqual(["anna-jones"]);
    expect(
      compiled.match({
        employees: [
          { first: "Anna", last: "Smith" },
          { first: "Peter", last: "Jones" },
        ],
      }),
    ).toEqual([]);
  });

  it("compileRules: rejects an invalid pattern, naming the rule", () => {
    let caught: unknown;
    try {
      compileRules([
        { name: "ok", pattern: { source: ["a"] } },
        { name: "broken", pattern: { source: "a" } as unknown as EventPattern },
      ]);
    } catch (error) {
      caught = error;
    }
    expect(PatternError.isPatternError(caught)).toBe(true);
    expect((caught as PatternError).message).toMatch(/^Rule "broken" pattern has 1 problem:\n {2}- source: /);
  });

  it("compileRules: compiles an empty rule list", () => {
    expect(compileRules([]).match({ source: "a" })).toEqual([]);
  });
});
