/**
 * Property tests: on generated patterns and events, the compiled matcher (`matchesPattern`, the
 * `compileRules` index and `explain`) must agree with the reference interpreter, which shares no
 * code with them. Keys and values come from small sets so that matches are frequent; some keys have
 * dots, which AWS reads as paths.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { explain } from "./explain.ts";
import { matchesPattern } from "./match.ts";
import { referenceMatches } from "./reference.test-helper.ts";
import { compileRules } from "./rules.ts";
import type { EventPattern } from "./types.ts";
import { patternProblems } from "./validate.ts";

// Dotted keys spell the paths of nested ones ("a.b" is a → b), in events and patterns alike.
const key = fc.oneof({ arbitrary: fc.constantFrom("a", "b", "c"), weight: 5 }, fc.constantFrom("a.b", "b.c", "a.b.c"));

const scalar = fc.constantFrom<string | number | boolean | null>(
  "",
  "x",
  "X",
  "xy",
  "yx",
  "ab",
  "a*b",
  "a\\b",
  "10.0.0.1",
  "10.1.2.3",
  "2001:db8::1",
  "::ffff:10.0.0.1",
  0,
  1,
  -1,
  5,
  300,
  1.5,
  0.0000001,
  1e10,
  5e9,
  true,
  false,
  null,
);

const { value: eventValue } = fc.letrec<{ value: unknown; array: unknown[]; object: Record<string, unknown> }>(
  (tie) => ({
    value: fc.oneof({ depthSize: "small", maxDepth: 3 }, scalar, tie("array"), tie("object")),
    // Arrays of objects are where array consistency and `exists: false` get subtle.
    array: fc.oneof(fc.array(tie("value"), { maxLength: 3 }), fc.array(tie("object"), { minLength: 1, maxLength: 3 })),
    object: fc.dictionary(key, tie("value"), { minKeys: 1, maxKeys: 3 }),
  }),
);

const event = fc.dictionary(key, eventValue, { minKeys: 2, maxKeys: 3 });

const entry = fc.oneof(
  { arbitrary: scalar, weight: 4 },
  fc.constantFrom("", "x", "a", "10.").map((prefix) => ({ prefix })),
  fc.constantFrom("X", "A").map((prefix) => ({ prefix: { "equals-ignore-case": prefix } })),
  fc.constantFrom("", "y", "b").map((suffix) => ({ suffix })),
  fc.constantFrom("Y", "B").map((suffix) => ({ suffix: { "equals-ignore-case": suffix } })),
  fc.constantFrom("x", "XY", "AB").map((text) => ({ "equals-ignore-case": text })),
  fc.constantFrom("*", "x*", "*y", "a*b", "a\\*b", "*x*", "a\\\\b", "", "*.*.*.1").map((wildcard) => ({ wildcard })),
  fc.constantFrom("10.0.0.0/8", "10.0.0.0/24", "2001:db8::/32", "0.0.0.0/0", "::/0").map((cidr) => ({ cidr })),
  { arbitrary: fc.boolean().map((exists) => ({ exists })), weight: 2 },
  fc
    .constantFrom<unknown[]>([">", 0], ["<", 1], ["=", 300], [">=", -1, "<=", 1], [">", 0, "<", 5e9], ["<=", 1.5])
    .map((numeric) => ({ numeric })),
  fc
    .constantFrom<unknown>(
      "x",
      "",
      0,
      300,
      1.5,
      ["x", "ab"],
      [0, 1],
      { prefix: "x" },
      { prefix: ["a", "1"] },
      { suffix: "y" },
      { "equals-ignore-case": ["X", "ab"] },
      { wildcard: "*b" },
      { wildcard: ["x*", ""] },
    )
    .map((operand) => ({ "anything-but": operand })),
);

const leafList = fc.array(entry, { minLength: 1, maxLength: 4 });

/** Pattern objects nested at most `depth` levels, through fields or `$or`. */
function patternAt(depth: number): fc.Arbitrary<Record<string, unknown>> {
  const field = depth === 0 ? leafList : fc.oneof({ arbitrary: leafList, weight: 3 }, patternAt(depth - 1));
  const fields = fc.dictionary(key, field, { minKeys: 1, maxKeys: 2 });
  if (depth === 0) return fields;
  const or = fc.option(fc.array(patternAt(depth - 1), { minLength: 2, maxLength: 3 }), { freq: 3 });
  return fc.tuple(fields, or).map(([object, options]) => (options === null ? object : { ...object, $or: options }));
}

const patternObject = patternAt(2);

const pattern = patternObject.filter(
  (candidate) => patternProblems(candidate).length === 0,
) as fc.Arbitrary<EventPattern>;

const runs = { numRuns: 3000 };
/** Generous, as CI machines can be several times slower than a laptop. */
const timeout = 60_000;

describe("properties", () => {
  it(
    "matchesPattern: agrees with the reference interpreter",
    () => {
      fc.assert(
        fc.property(pattern, event, (p, e) => {
          expect(matchesPattern(p, e)).toBe(referenceMatches(p, e));
        }),
        runs,
      );
    },
    timeout,
  );

  it(
    "explain: matches exactly when matchesPattern does",
    () => {
      fc.assert(
        fc.property(pattern, event, (p, e) => {
          expect(explain(p, e).matched).toBe(matchesPattern(p, e));
        }),
        runs,
      );
    },
    timeout,
  );

  it(
    "compileRules: selects the rules the reference interpreter selects",
    () => {
      fc.assert(
        fc.property(
          fc.array(pattern, { minLength: 1, maxLength: 8 }),
          fc.array(event, { minLength: 1, maxLength: 5 }),
          (patterns, events) => {
            const rules = patterns.map((p, i) => ({ name: `r${i}`, pattern: p }));
            const compiled = compileRules(rules);
            for (const e of events) {
              const expected = rules.filter((rule) => referenceMatches(rule.pattern, e)).map((rule) => rule.name);
              expect(compiled.match(e)).toEqual(expected);
            }
          },
        ),
        { numRuns: 1000 },
      );
    },
    timeout,
  );

  it(
    "generators: produce both matches and mismatches",
    () => {
      const pairs = fc.sample(fc.tuple(pattern, event), { numRuns: 2000, seed: 7 });
      const matched = pairs.filter(([p, e]) => referenceMatches(p, e)).length;
      expect(matched).toBeGreaterThan(pairs.length * 0.1);
      expect(matched).toBeLessThan(pairs.length * 0.9);
    },
    timeout,
  );
});
