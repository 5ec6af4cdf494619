import { describe, expect, it } from "vitest";
import { NimbusError } from "../errors/nimbus-error.ts";
import { MAX_PATTERN_LENGTH } from "./limits.ts";
import { PatternError } from "./pattern-error.ts";
import { patternProblems, validatePattern } from "./validate.ts";

/** The paths of all problems, for compact assertions. */
const paths = (pattern: unknown) => patternProblems(pattern).map((issue) => issue.path);

/** The single problem's message, asserting its path. */
function problemAt(pattern: unknown, path: string): string {
  const issues = patternProblems(pattern);
  expect(issues.map((issue) => issue.path)).toEqual([path]);
  return issues[0]?.message ?? "";
}

describe("patternProblems", () => {
  it("patternProblems: accepts every operator in its documented forms", () => {
    const pattern = {
      source: ["orders", 1, 2.5, true, false, null, ""],
      time: [{ prefix: "2026-" }, { prefix: { "equals-ignore-case": "x" } }],
      detail: {
        file: [{ suffix: ".png" }, { suffix: { "equals-ignore-case": ".PNG" } }, { wildcard: "dir/*.png" }],
        name: [{ "equals-ignore-case": "alice" }],
        state: [
          { "anything-but": "a" },
          { "anything-but": 1 },
          { "anything-but": ["a", "b"] },
          { "anything-but": [1, 2] },
          { "anything-but": { prefix: "init" } },
          { "anything-but": { prefix: ["init", "boot"] } },
          { "anything-but": { suffix: ".txt" } },
          { "anything-but": { "equals-ignore-case": ["a", "B"] } },
          { "anything-but": { wildcard: ["*/lib/*", ""] } },
        ],
        total: [{ numeric: ["=", 300] }, { numeric: [">", 0, "<=", 5] }, { numeric: [">=", -5e9, "<", 5e9] }],
        ip: [{ cidr: "10.0.0.0/24" }, { cidr: "2001:db8::/32" }, { cidr: "0.0.0.0/0" }],
        present: [{ exists: true }],
        missing: [{ exists: false }],
        $or: [{ a: [1] }, { b: { c: [{ wildcard: "a\\*b\\\\*" }] } }],
      },
    };
    expect(patternProblems(pattern)).toEqual([]);
  });

  it("patternProblems: a pattern must be a non-empty object", () => {
    for (const bad of [null, "source", 42, [{ source: ["x"] }], undefined]) {
      expect(problemAt(bad, "")).toMatch(/must be a JSON object/);
    }
    expect(problemAt({}, "")).toMatch(/empty objects are not allowed/);
    expect(problemAt({ detail: {} }, "detail")).toMatch(/empty objects are not allowed/);
  });

  it("patternProblems: match values must be in a list", () => {
    expect(problemAt({ source: "orders" }, "source")).toMatch(/write \["orders"\]/);
    expect(problemAt({ detail: { total: 42 } }, "detail.total")).toMatch(
      /expected a list of values or a nested pattern/,
    );
    expect(problemAt({ detail: { flag: null } }, "detail.flag")).toMatch(/found null/);
  });

  it("patternProblems: lists must be non-empty and hold JSON values or match expressions", () => {
    expect(problemAt({ resources: [] }, "resources")).toMatch(/empty lists are not allowed/);
    expect(problemAt({ a: [["x"]] }, "a[0]")).toMatch(/cannot be nested/);
    expect(problemAt({ a: ["x", Number.NaN] }, "a[1]")).toMatch(/not a JSON number/);
    expect(problemAt({ a: [undefined] }, "a[0]")).toMatch(/expected a string, number/);
  });

  it("patternProblems: match expressions hold exactly one known operator", () => {
    expect(problemAt({ a: [{}] }, "a[0]")).toMatch(/needs an operator/);
    expect(problemAt({ a: [{ prefix: "x", suffix: "y" }] }, "a[0]")).toMatch(
      /exactly one operator, found prefix, suffix/,
    );
    expect(problemAt({ a: [{ contains: "x" }] }, "a[0].contains")).toMatch(/unknown operator "contains"/);
    expect(problemAt({ my_key: [{ EXISTS: true }] }, "my_key[0].EXISTS")).toMatch(/operators are lower case: "exists"/);
    expect(problemAt({ a: [{ b: ["nested"] }] }, "a[0].b")).toMatch(/unknown operator "b"/);
  });

  it("patternProblems: string operators need strings", () => {
    expect(problemAt({ time: [{ prefix: ["2022-07-13"] }] }, "time[0].prefix")).toMatch(/expected a string/);
    expect(problemAt({ time: [{ prefix: 123 }] }, "time[0].prefix")).toMatch(/expected a string/);
    expect(problemAt({ f: [{ suffix: { "equals-ignore-case": 1 } }] }, "f[0].suffix")).toMatch(/expected a string/);
    expect(problemAt({ f: [{ suffix: { prefix: "x" } }] }, "f[0].suffix")).toMatch(/equals-ignore-case/);
    expect(problemAt({ t: [{ "equals-ignore-case": ["x"] }] }, "t[0].equals-ignore-case")).toMatch(/expected a string/);
    expect(problemAt({ t: [{ "equals-ignore-case": { prefix: "ec2" } }] }, "t[0].equals-ignore-case")).toMatch(
      /expected a string/,
    );
  });

  it("patternProblems: exists takes true or false", () => {
    expect(problemAt({ a: [{ exists: "yes" }] }, "a[0].exists")).toMatch(/expected true or false, found "yes"/);
  });

  it("patternProblems: numeric follows EventBridge's grammar", () => {
    const at = "detail.total[0].numeric";
    const numeric = (terms: unknown) => problemAt({ detail: { total: [{ numeric: terms }] } }, at);
    expect(numeric(5)).toMatch(/expected a list of operators and numbers/);
    expect(numeric([])).toMatch(/expected a list of operators and numbers/);
    expect(numeric([5, ">"])).toMatch(/expected an operator/);
    expect(numeric(["!=", 5])).toMatch(/expected an operator/);
    expect(numeric([">"])).toMatch(/expected a number after ">", found nothing/);
    expect(numeric([">", "5"])).toMatch(/expected a number after ">", found "5"/);
    expect(numeric([">", 0, "<"])).toMatch(/expected a number after "<"/);
    expect(numeric([">", 0, ">", 0])).toMatch(/upper bound of a range needs "<" or "<="/);
    expect(numeric(["<", 5, ">", 0])).toMatch(/"<" takes a single number/);
    expect(numeric(["=", 5, "<", 6])).toMatch(/"=" takes a single number/);
    expect(numeric([">", 5, "<", 5])).toMatch(/lower bound 5 must be less than the upper bound 5/);
    expect(numeric([">", 0, "<", 5, "<", 6])).toMatch(/at most two bounds/);
  });

  it("patternProblems: numbers compared by numeric lie within ±5e9", () => {
    expect(problemAt({ n: [{ numeric: [">", 5e9 + 1] }] }, "n[0].numeric")).toMatch(/outside -5e9..5e9/);
    expect(problemAt({ n: [{ numeric: [">=", 0, "<", -6e9] }] }, "n[0].numeric")).toMatch(/outside -5e9..5e9/);
    expect(problemAt({ n: [{ "anything-but": 1e10 }] }, "n[0].anything-but")).toMatch(/outside -5e9..5e9/);
    expect(problemAt({ n: [{ "anything-but": [1, 1e10] }] }, "n[0].anything-but[1]")).toMatch(/outside/);
    // Exact values are matched by value, whatever their size: an account id is fine.
    expect(patternProblems({ account: [123456789012] })).toEqual([]);
  });

  it("patternProblems: anything-but takes a value, a list of one type, or one string operator", () => {
    const at = "s[0].anything-but";
    const but = (operand: unknown) => patternProblems({ s: [{ "anything-but": operand }] });
    expect(but([]).map((i) => i.path)).toEqual([at]);
    expect(but(["a", 1])[0]?.message).toMatch(/only strings or only numbers/);
    expect(but([null])[0]?.message).toMatch(/only strings or only numbers/);
    expect(but(true)[0]?.message).toMatch(/expected a string, a number/);
    expect(but(null)[0]?.message).toMatch(/expected a string, a number/);
    expect(but({ numeric: [">", 1] })[0]).toEqual({
      path: `${at}.numeric`,
      message: expect.stringMatching(/supports prefix, suffix, equals-ignore-case and wildcard/),
    });
    expect(but({ prefix: "a", suffix: "b" })[0]?.message).toMatch(/exactly one of/);
    expect(but({ prefix: 123 })[0]?.path).toBe(`${at}.prefix`);
    expect(but({ suffix: [123, ".txt"] })[0]?.message).toMatch(/a string or a list of strings/);
    expect(but({ prefix: "" })[0]?.message).toMatch(/empty prefix would exclude every string/);
    expect(but({ suffix: ["", ".txt"] })[0]?.message).toMatch(/empty suffix/);
    expect(but({ prefix: { "equals-ignore-case": "file" } })[0]?.message).toMatch(/cannot combine prefix with/);
    expect(but({ "equals-ignore-case": 123 })[0]?.path).toBe(`${at}.equals-ignore-case`);
    expect(but({ "equals-ignore-case": [123, 456] })[0]?.message).toMatch(/a string or a list of strings/);
    expect(but({ wildcard: [123, "*/dir/*"] })[0]?.message).toMatch(/a string or a list of strings/);
    expect(but({ wildcard: ["ok*", "a**"] })[0]?.path).toBe(`${at}.wildcard[1]`);
  });

  it("patternProblems: wildcards reject **, stray escapes and too many wildcards", () => {
    const at = "EventBusArn[0].wildcard";
    const wildcard = (text: unknown) => problemAt({ EventBusArn: [{ wildcard: text }] }, at);
    expect(wildcard("arn:aws:events:us-east-1:**:event-bus/*")).toMatch(/consecutive wildcards "\*\*" at position 25/);
    expect(wildcard("a\\b")).toMatch(/"\\b" at position 1; only \\\* and \\\\ are escapes/);
    expect(wildcard("ab\\")).toMatch(/a trailing backslash/);
    expect(wildcard("*:*:*:*:*:event-bus/*")).toMatch(/6 wildcards make the pattern too complex/);
    expect(wildcard(123)).toMatch(/expected a string/);
    expect(wildcard(["a*"])).toMatch(/expected a string/);
    expect(patternProblems({ a: [{ wildcard: "\\**" }] })).toEqual([]);
  });

  it("patternProblems: cidr needs a well-formed block", () => {
    const at = "detail.sourceIPAddress[0].cidr";
    const cidr = (text: unknown) => problemAt({ detail: { sourceIPAddress: [{ cidr: text }] } }, at);
    expect(cidr("10.0.0.0")).toMatch(/exactly one "\/" is required/);
    expect(cidr("10.0.0.0/x")).toMatch(/mask bits must be an integer/);
    expect(cidr("xx.11.xx/24")).toMatch(/"xx.11.xx" is not a standard IP address/);
    expect(cidr("xxxx:db8:1234:1a00::/64")).toMatch(/not a standard IP address/);
    expect(cidr("10.0.0.256/24")).toMatch(/not a standard IP address/);
    expect(cidr("10.0.0.0/33")).toMatch(/at most 32 bits/);
    expect(cidr("::/129")).toMatch(/at most 128 bits/);
    expect(cidr(["bad-type"])).toMatch(/expected a CIDR block/);
  });

  it("patternProblems: $or takes at least two non-empty patterns", () => {
    expect(problemAt({ $or: { a: [1] } }, "$or")).toMatch(/at least two patterns/);
    expect(problemAt({ $or: [{ a: [1] }] }, "$or")).toMatch(/at least two patterns/);
    expect(problemAt({ detail: { $or: [{ a: [1] }, "b"] } }, "detail.$or[1]")).toMatch(/must be a pattern object/);
    expect(problemAt({ $or: [{ a: [1] }, {}] }, "$or[1]")).toMatch(/empty objects/);
    expect(problemAt({ $or: [{ a: [1] }, { b: { c: [] } }] }, "$or[1].b.c")).toMatch(/empty lists/);
  });

  it("patternProblems: operator names are not field names inside $or", () => {
    expect(paths({ $or: [{ numeric: [1] }, { prefix: ["abc"] }] })).toEqual(["$or[0].numeric", "$or[1].prefix"]);
    // Outside $or they are ordinary fields.
    expect(patternProblems({ prefix: ["abc"] })).toEqual([]);
  });

  it("patternProblems: $or may expand into at most 1000 combinations", () => {
    const options = (key: string, count: number) => Array.from({ length: count }, (_, i) => ({ [`${key}${i}`]: [i] }));
    const fine = { $or: options("a", 10), detail: { $or: options("b", 10), x: { $or: options("c", 10) } } };
    expect(patternProblems(fine)).toEqual([]);
    const tooMany = { ...fine, other: { $or: options("d", 2) } };
    expect(problemAt(tooMany, "")).toMatch(/more than 1000 combinations/);
  });

  it("patternProblems: the pattern's JSON may be at most 4096 characters", () => {
    const big = { source: [`x${"y".repeat(MAX_PATTERN_LENGTH)}`] };
    expect(problemAt(big, "")).toMatch(/characters of JSON; the limit is 4096/);
    const cyclic: Record<string, unknown> = { a: ["x"] };
    cyclic.self = cyclic;
    expect(problemAt(cyclic, "")).toMatch(/not plain JSON/);
  });

  it("patternProblems: one branch cannot use a field as both a value and an object", () => {
    expect(problemAt({ a: ["x"], $or: [{ a: { b: [1] } }, { c: [2] }] }, "a")).toMatch(/both as a list of values/);
    expect(problemAt({ a: [1], "a.b": [2] }, "a")).toMatch(/both as a list of values .*"a\.name" nests too/);
    expect(problemAt({ "a.b": [1], a: { b: { c: [2] } } }, "a.b")).toMatch(/both as a list of values/);
    // Different branches may.
    expect(patternProblems({ $or: [{ a: ["x"] }, { a: { b: [1] } }] })).toEqual([]);
  });

  it("patternProblems: reports every problem, not only the first", () => {
    expect(
      paths({ source: "x", detail: { total: [{ numeric: [">"] }], tags: [], ip: [{ cidr: "1.2.3.4" }] } }),
    ).toEqual(["source", "detail.total[0].numeric", "detail.tags", "detail.ip[0].cidr"]);
  });
});

describe("validatePattern", () => {
  it("validatePattern: accepts a valid pattern", () => {
    expect(() => validatePattern({ source: ["orders"] })).not.toThrow();
  });

  it("validatePattern: throws a PatternError listing every issue", () => {
    let caught: unknown;
    try {
      validatePattern({ source: "orders", detail: { total: [{ numeric: [">", "0"] }] } });
    } catch (error) {
      caught = error;
    }
    expect(NimbusError.is(caught)).toBe(true);
    expect(PatternError.isPatternError(caught)).toBe(true);
    const error = caught as PatternError;
    expect(error.code).toBe("NIMBUS_PATTERN_INVALID");
    expect(error.kind).toBe("user");
    expect(error.issues.map((issue) => issue.path)).toEqual(["source", "detail.total[0].numeric"]);
    expect(error.message).toMatch(
      /^Event pattern has 2 problems:\n {2}- source: .*\n {2}- detail\.total\[0\]\.numeric: /,
    );
  });
});
