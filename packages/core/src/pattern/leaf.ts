import { cidrContains, parseCidr, parseIp } from "./cidr.ts";
import { fixedPoint, isComparable, numberKey } from "./numbers.ts";
import type { MatchValue, NumericOperator } from "./types.ts";
import { parseWildcard, wildcardMatcher } from "./wildcard.ts";

/** A JSON value that can sit at a leaf of an event. */
export type Leaf = string | number | boolean | null;

/** One entry of a field's list, compiled: a predicate on a single leaf value plus what explain needs. */
export interface LeafTest {
  /** Operator name as shown by explain: `equals`, `prefix`, `numeric`, … */
  operator: string;
  test(value: Leaf): boolean;
  /** Why `value` fails this test; only called when it does. */
  why(value: Leaf): string;
  /** For `equals`: the exact values, which the rule index can look up. */
  exact?: readonly Leaf[];
  /** For a case-sensitive `prefix`: the prefix, which the rule index can look up. */
  prefix?: string;
  /** For `numeric`: the interval, in fixed-point form (see numbers.ts). */
  range?: NumericRange;
  /** For `anything-but` with a single string: that string. */
  excluded?: string;
}

/** An interval of fixed-point numbers; unbounded ends are infinite. */
export interface NumericRange {
  low: number;
  lowOpen: boolean;
  high: number;
  highOpen: boolean;
}

/** How a value is quoted in explanations. */
export function formatLeaf(value: Leaf): string {
  return typeof value === "string" ? JSON.stringify(value) : String(value);
}

const isLeafValue = (entry: MatchValue): entry is Leaf => entry === null || typeof entry !== "object";

/**
 * Compiles a field's list (its `exists: false` entries already taken out) into tests, one per match
 * expression plus one for all exact values together, so a long list of values costs one Set lookup.
 */
export function compileLeafTests(entries: readonly MatchValue[]): LeafTest[] {
  const tests: LeafTest[] = [];
  const exact = entries.filter(isLeafValue);
  if (exact.length > 0) tests.push(equalsTest(exact));
  for (const entry of entries) {
    if (!isLeafValue(entry)) tests.push(expressionTest(entry));
  }
  return tests;
}

function equalsTest(values: readonly Leaf[]): LeafTest {
  const shown = values.length === 1 ? formatLeaf(values[0] ?? null) : `one of [${values.map(formatLeaf).join(", ")}]`;
  return {
    operator: "equals",
    exact: values,
    test: equalsPredicate(values),
    why: (value) => `${formatLeaf(value)} is not ${shown}`,
  };
}

/**
 * The predicate for a list of exact values, as lean as the list allows: thousands of rules keep one
 * each, so every object and indirection saved shows up in matching speed.
 */
function equalsPredicate(values: readonly Leaf[]): (value: Leaf) => boolean {
  const [first] = values;
  if (values.length === 1 && typeof first === "string") return (value) => value === first;
  if (values.every((value) => typeof value === "string")) {
    const strings = new Set(values as string[]);
    return (value) => typeof value === "string" && strings.has(value);
  }
  const strings = new Set<string>();
  const numbers = new Set<string>();
  const literals = new Set<boolean | null>();
  for (const value of values) {
    if (typeof value === "string") strings.add(value);
    else if (typeof value === "number") numbers.add(numberKey(value));
    else literals.add(value);
  }
  return (value) => {
    if (typeof value === "string") return strings.has(value);
    if (typeof value === "number") return numbers.size > 0 && numbers.has(numberKey(value));
    return literals.has(value);
  };
}

function expressionTest(expression: Exclude<MatchValue, Leaf>): LeafTest {
  const [operator, operand] = Object.entries(expression)[0] as [string, unknown];
  switch (operator) {
    case "prefix":
    case "suffix":
      return affixTest(operator, operand as string | { "equals-ignore-case": string });
    case "equals-ignore-case": {
      const lower = (operand as string).toLowerCase();
      return {
        operator,
        test: (value) => typeof value === "string" && value.toLowerCase() === lower,
        why: (value) => `${formatLeaf(value)} is not ${JSON.stringify(operand)} ignoring case`,
      };
    }
    case "wildcard":
      return wildcardTest(operand as string);
    case "cidr":
      return cidrTest(operand as string);
    case "exists":
      // Only `exists: true` reaches here: any leaf value, null included, satisfies it.
      return { operator, test: () => true, why: () => "field is missing" };
    case "numeric":
      return numericTest(operand as readonly (NumericOperator | number)[]);
    case "anything-but":
      return anythingButTest(operand);
    default:
      throw new Error(`unvalidated operator ${operator}`);
  }
}

function affixTest(operator: "prefix" | "suffix", operand: string | { "equals-ignore-case": string }): LeafTest {
  const ignoreCase = typeof operand !== "string";
  const affix = typeof operand === "string" ? operand : operand["equals-ignore-case"].toLowerCase();
  const verb = operator === "prefix" ? "start with" : "end with";
  const has =
    operator === "prefix" ? (value: string) => value.startsWith(affix) : (value: string) => value.endsWith(affix);
  return {
    operator: ignoreCase ? `${operator}/equals-ignore-case` : operator,
    ...(operator === "prefix" && !ignoreCase ? { prefix: affix } : {}),
    test: ignoreCase
      ? (value) => typeof value === "string" && has(value.toLowerCase())
      : (value) => typeof value === "string" && has(value),
    why: (value) =>
      typeof value === "string"
        ? `${formatLeaf(value)} does not ${verb} ${JSON.stringify(affix)}${ignoreCase ? " ignoring case" : ""}`
        : `${formatLeaf(value)} is not a string`,
  };
}

function wildcardTest(text: string): LeafTest {
  const parsed = parseWildcard(text);
  if (!parsed.ok) throw new Error(`unvalidated wildcard ${text}`);
  const matches = wildcardMatcher(parsed.segments);
  return {
    operator: "wildcard",
    test: (value) => typeof value === "string" && matches(value),
    why: (value) =>
      typeof value === "string"
        ? `${formatLeaf(value)} does not match ${JSON.stringify(text)}`
        : `${formatLeaf(value)} is not a string`,
  };
}

function cidrTest(text: string): LeafTest {
  const parsed = parseCidr(text);
  if (!parsed.ok) throw new Error(`unvalidated cidr ${text}`);
  const block = parsed.block;
  return {
    operator: "cidr",
    test: (value) => typeof value === "string" && cidrContains(block, value),
    why: (value) => {
      if (typeof value !== "string" || !parseIp(value)) return `${formatLeaf(value)} is not an IP address`;
      return `${formatLeaf(value)} is not in ${text}`;
    },
  };
}

interface Bound {
  operator: NumericOperator;
  operand: number;
  fixed: number;
}

const holds = (operator: NumericOperator, value: number, bound: number): boolean => {
  switch (operator) {
    case "=":
      return value === bound;
    case "<":
      return value < bound;
    case "<=":
      return value <= bound;
    case ">":
      return value > bound;
    case ">=":
      return value >= bound;
  }
};

function numericTest(terms: readonly (NumericOperator | number)[]): LeafTest {
  const bounds: Bound[] = [];
  for (let i = 0; i + 1 < terms.length; i += 2) {
    const operand = terms[i + 1] as number;
    bounds.push({ operator: terms[i] as NumericOperator, operand, fixed: fixedPoint(operand) });
  }
  // Every valid expression is one interval; kept as plain numbers so the test touches no objects.
  let low = Number.NEGATIVE_INFINITY;
  let high = Number.POSITIVE_INFINITY;
  let lowOpen = false;
  let highOpen = false;
  for (const { operator, fixed } of bounds) {
    if (operator === "=" || operator === ">" || operator === ">=") [low, lowOpen] = [fixed, operator === ">"];
    if (operator === "=" || operator === "<" || operator === "<=") [high, highOpen] = [fixed, operator === "<"];
  }
  return {
    operator: "numeric",
    range: { low, lowOpen, high, highOpen },
    test: (value) => {
      if (typeof value !== "number" || !isComparable(value)) return false;
      const fixed = fixedPoint(value);
      return (lowOpen ? fixed > low : fixed >= low) && (highOpen ? fixed < high : fixed <= high);
    },
    why: (value) => {
      if (typeof value !== "number") return `${formatLeaf(value)} is not a number`;
      if (!isComparable(value)) return `${value} is outside -5e9..5e9, the range numeric can compare`;
      const fixed = fixedPoint(value);
      const failed = bounds.find((bound) => !holds(bound.operator, fixed, bound.fixed));
      return failed ? `${value} is not ${failed.operator} ${failed.operand}` : `${value} is out of range`;
    },
  };
}

function anythingButTest(operand: unknown): LeafTest {
  const operator = "anything-but";
  if (typeof operand === "string") {
    return {
      operator,
      excluded: operand,
      test: (value) => value !== operand,
      why: (value) => `${formatLeaf(value)} is excluded`,
    };
  }
  if (Array.isArray(operand) && typeof operand[0] === "string") {
    const excluded = new Set<string>(operand as string[]);
    return {
      operator,
      test: (value) => typeof value !== "string" || !excluded.has(value),
      why: (value) => `${formatLeaf(value)} is excluded`,
    };
  }
  if (typeof operand === "number" || Array.isArray(operand)) {
    const excluded = new Set<string>((typeof operand === "number" ? [operand] : (operand as number[])).map(numberKey));
    return {
      operator,
      test: (value) => typeof value !== "number" || !excluded.has(numberKey(value)),
      why: (value) => `${formatLeaf(value)} is excluded`,
    };
  }
  const [inner, innerOperand] = Object.entries(operand as object)[0] as [string, string | string[]];
  const values = typeof innerOperand === "string" ? [innerOperand] : innerOperand;
  const name = `${operator}/${inner}`;
  let excludes: (value: string) => boolean;
  let describe: (value: string) => string;
  switch (inner) {
    case "prefix":
      excludes = (value) => values.some((prefix) => value.startsWith(prefix));
      describe = (value) => `${formatLeaf(value)} starts with an excluded prefix`;
      break;
    case "suffix":
      excludes = (value) => values.some((suffix) => value.endsWith(suffix));
      describe = (value) => `${formatLeaf(value)} ends with an excluded suffix`;
      break;
    case "equals-ignore-case": {
      const lowered = new Set(values.map((value) => value.toLowerCase()));
      excludes = (value) => lowered.has(value.toLowerCase());
      describe = (value) => `${formatLeaf(value)} is excluded (ignoring case)`;
      break;
    }
    case "wildcard": {
      const matchers = values.map((text) => {
        const parsed = parseWildcard(text);
        if (!parsed.ok) throw new Error(`unvalidated wildcard ${text}`);
        return wildcardMatcher(parsed.segments);
      });
      excludes = (value) => matchers.some((matches) => matches(value));
      describe = (value) => `${formatLeaf(value)} matches an excluded wildcard`;
      break;
    }
    default:
      throw new Error(`unvalidated anything-but operator ${inner}`);
  }
  // Values that are not strings can never start with, end with or match a string, so they pass.
  return {
    operator: name,
    test: (value) => typeof value !== "string" || !excludes(value),
    why: (value) => (typeof value === "string" ? describe(value) : `${formatLeaf(value)} is excluded`),
  };
}
