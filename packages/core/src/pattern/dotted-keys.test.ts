/**
 * Field names with dots, as AWS's engine reads them: nested keys are joined with `.`, in patterns
 * and in events alike, so `"state.status"` and `state` → `status` are one field. Every case is
 * checked through `matchesPattern`, the `compileRules` index, `explain` and the reference
 * interpreter of the property tests.
 */
import { describe, expect, it } from "vitest";
import { explain } from "./explain.ts";
import { matchesPattern } from "./match.ts";
import { referenceMatches } from "./reference.test-helper.ts";
import { compileRules } from "./rules.ts";
import type { EventPattern } from "./types.ts";

interface Case {
  title: string;
  pattern: EventPattern;
  event: Record<string, unknown>;
  matches: boolean;
}

const cases: Case[] = [
  {
    title: "a dotted pattern key matches the nested event field",
    pattern: { "detail.state": ["running"] },
    event: { detail: { state: "running" } },
    matches: true,
  },
  {
    title: "a dotted pattern key compares the nested field's value",
    pattern: { "detail.state": ["running"] },
    event: { detail: { state: "stopped" } },
    matches: false,
  },
  {
    title: "a nested pattern matches an event field whose name has dots",
    pattern: { detail: { state: ["running"] } },
    event: { "detail.state": "running" },
    matches: true,
  },
  {
    title: "a dotted pattern key matches the same dotted event key",
    pattern: { "detail.state": ["running"] },
    event: { "detail.state": "running" },
    matches: true,
  },
  {
    title: "dots at any level: detail → state.status matches detail.state → status",
    pattern: { detail: { "state.status": ["running"] } },
    event: { "detail.state": { status: "running" } },
    matches: true,
  },
  {
    title: "dots at any level: detail → state.status matches one key detail.state.status",
    pattern: { detail: { "state.status": ["running"] } },
    event: { "detail.state.status": "running" },
    matches: true,
  },
  {
    title: "a dotted key and nested keys combine into one object",
    pattern: { "detail.state": ["running"], detail: { count: [2] } },
    event: { detail: { count: 2 }, "detail.state": "running" },
    matches: true,
  },
  {
    title: "both spellings present: the nested value is a candidate",
    pattern: { detail: { state: ["stopped"] } },
    event: { detail: { state: "stopped" }, "detail.state": "running" },
    matches: true,
  },
  {
    title: "both spellings present: the dotted value is a candidate",
    pattern: { detail: { state: ["running"] } },
    event: { detail: { state: "stopped" }, "detail.state": "running" },
    matches: true,
  },
  {
    title: "both spellings present: neither value matching fails",
    pattern: { detail: { state: ["pending"] } },
    event: { detail: { state: "stopped" }, "detail.state": "running" },
    matches: false,
  },
  {
    title: "the later mention of a path in the pattern counts, however it is spelled",
    pattern: { detail: { state: ["running"] }, "detail.state": ["stopped"] },
    event: { detail: { state: "running" } },
    matches: false,
  },
  {
    title: "prefix under a dotted pattern key",
    pattern: { "detail.region": [{ prefix: "eu-" }] },
    event: { "detail.region": "eu-west-1" },
    matches: true,
  },
  {
    title: "prefix under a dotted pattern key rejects another prefix",
    pattern: { "detail.region": [{ prefix: "eu-" }] },
    event: { detail: { region: "us-east-1" } },
    matches: false,
  },
  {
    title: "numeric under a dotted pattern key",
    pattern: { "detail.total": [{ numeric: [">", 100] }] },
    event: { detail: { total: 150 } },
    matches: true,
  },
  {
    title: "numeric on a dotted event key",
    pattern: { detail: { total: [{ numeric: [">", 100] }] } },
    event: { "detail.total": 50 },
    matches: false,
  },
  {
    title: "anything-but on a dotted event key",
    pattern: { detail: { state: [{ "anything-but": "stopped" }] } },
    event: { "detail.state": "stopped" },
    matches: false,
  },
  {
    title: "anything-but with both spellings: the value not excluded matches",
    pattern: { "detail.state": [{ "anything-but": "stopped" }] },
    event: { detail: { state: "stopped" }, "detail.state": "running" },
    matches: true,
  },
  {
    title: "exists: true finds a dotted event key",
    pattern: { detail: { total: [{ exists: true }] } },
    event: { "detail.total": 0 },
    matches: true,
  },
  {
    title: "exists: false fails when the field exists under a dotted key",
    pattern: { "detail.total": [{ exists: false }] },
    event: { detail: { currency: "EUR" }, "detail.total": 0 },
    matches: false,
  },
  {
    title: "exists: false holds when no spelling has the field",
    pattern: { "detail.total": [{ exists: false }] },
    event: { detail: { currency: "EUR" }, "detail.totals": 0 },
    matches: true,
  },
  {
    title: "$or branches with dotted keys: the second branch matches a dotted event key",
    pattern: { $or: [{ "detail.state": ["running"] }, { "detail.count": [{ numeric: [">", 5] }] }] },
    event: { "detail.count": 10 },
    matches: true,
  },
  {
    title: "$or branches with dotted keys: no branch matching fails",
    pattern: { $or: [{ "detail.state": ["running"] }, { "detail.count": [{ numeric: [">", 5] }] }] },
    event: { detail: { state: "stopped", count: 1 } },
    matches: false,
  },
  {
    title: "a dotted event key beside an array of objects joins every element",
    pattern: { items: { sku: ["A"], qty: [2] } },
    event: { items: [{ sku: "B" }, { sku: "A" }], "items.qty": 2 },
    matches: true,
  },
  {
    title: "a dotted key inside an array element: the fields must match in that element",
    pattern: { items: { "info.sku": ["A"], qty: [2] } },
    event: {
      items: [
        { "info.sku": "B", qty: 2 },
        { info: { sku: "A" }, qty: 1 },
      ],
    },
    matches: false,
  },
  {
    title: "a dotted key inside an array element matches with that element's other fields",
    pattern: { items: { "info.sku": ["A"], qty: [2] } },
    event: {
      items: [
        { info: { sku: "B" }, qty: 1 },
        { "info.sku": "A", qty: 2 },
      ],
    },
    matches: true,
  },
  {
    // Found by the property tests: pairing the dotted value with each element pinned one element,
    // in which `exists: false` then held.
    title: "exists: false beside a dotted value counts every element of the array it is not in",
    pattern: { items: { qty: [2], sku: [{ exists: false }] } },
    event: { items: [{ sku: "A" }, { note: "x" }], "items.qty": 2 },
    matches: false,
  },
  {
    title: "exists: false beside a dotted value holds when no element has the field",
    pattern: { items: { qty: [2], sku: [{ exists: false }] } },
    event: { items: [{ note: "y" }, { note: "x" }], "items.qty": 2 },
    matches: true,
  },
  {
    title: "exists: false beside a dotted value: a field picked in an element confines absence to it",
    pattern: { items: { qty: [2], note: ["x"], sku: [{ exists: false }] } },
    event: { items: [{ sku: "A" }, { note: "x" }], "items.qty": 2 },
    matches: true,
  },
  {
    title: "dotted event keys the pattern does not read are ignored",
    pattern: { source: ["orders"] },
    event: { source: "orders", "source.kind": "x" },
    matches: true,
  },
];

describe("field names with dots", () => {
  for (const example of cases) {
    it(`matchesPattern: ${example.title}`, () => {
      expect(matchesPattern(example.pattern, example.event)).toBe(example.matches);
    });
  }

  it("reference: agrees with every case", () => {
    for (const example of cases) {
      expect(referenceMatches(example.pattern, example.event), example.title).toBe(example.matches);
    }
  });

  it("compileRules: selects exactly the matching cases", () => {
    const rules = compileRules(cases.map((example, index) => ({ name: `case-${index}`, pattern: example.pattern })));
    cases.forEach((example, index) => {
      expect(rules.match(example.event).includes(`case-${index}`), example.title).toBe(example.matches);
    });
  });

  it("compileRules: looks a rule up by a field the event spells with dots", () => {
    const rules = compileRules([
      { name: "eur", pattern: { source: ["shop"], detail: { currency: ["EUR"] } } },
      { name: "usd", pattern: { source: ["shop"], "detail.currency": ["USD"] } },
    ]);
    expect(rules.match({ source: "shop", "detail.currency": "EUR" })).toEqual(["eur"]);
    expect(rules.match({ source: "shop", detail: { currency: "USD" } })).toEqual(["usd"]);
    expect(rules.match({ source: "shop", detail: { currency: "USD" }, "detail.currency": "EUR" })).toEqual([
      "eur",
      "usd",
    ]);
  });

  it("explain: names the field that must be absent beside a dotted value", () => {
    const pattern = { items: { qty: [2], sku: [{ exists: false }] } };
    expect(explain(pattern, { items: [{ sku: "A" }, { note: "x" }], "items.qty": 2 })).toMatchObject({
      matched: false,
      path: "items.sku",
      operator: "exists",
    });
  });

  it("explain: agrees with matchesPattern on every case", () => {
    for (const example of cases) {
      expect(explain(example.pattern, example.event).matched, example.title).toBe(example.matches);
    }
  });
});
