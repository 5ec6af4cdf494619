import { parseCidr } from "./cidr.ts";
import { expandPattern, type ObjectBranch } from "./expand.ts";
import { MAX_OR_COMBINATIONS, MAX_PATTERN_LENGTH, NUMERIC_LIMIT, OPERATORS } from "./limits.ts";
import { PatternError } from "./pattern-error.ts";
import type { PatternIssue } from "./types.ts";
import { parseWildcard } from "./wildcard.ts";

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const isOperator = (key: string): boolean => (OPERATORS as readonly string[]).includes(key);

const NUMERIC_OPERATORS = ["=", "<", "<=", ">", ">="];

/** How an unexpected value is shown in a message. */
function show(value: unknown): string {
  if (value === undefined) return "nothing";
  if (typeof value === "bigint") return `${value}n`;
  if (typeof value === "function") return "a function";
  if (typeof value === "number" && !Number.isFinite(value)) return String(value);
  const json = JSON.stringify(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

const join = (path: string, key: string): string => (path === "" ? key : `${path}.${key}`);
const at = (path: string, index: number): string => `${path}[${index}]`;

/** Collects problems with their paths; one checker per construct of the language. */
class Checker {
  readonly issues: PatternIssue[] = [];

  problem(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  object(pattern: Json, path: string, insideOr: boolean): void {
    const keys = Object.keys(pattern);
    if (keys.length === 0) {
      this.problem(path, "empty objects are not allowed; remove the field or give it a list of values");
    }
    for (const key of keys) {
      const value = pattern[key];
      const fieldPath = join(path, key);
      if (key === "$or") this.or(value, fieldPath);
      else if (insideOr && isOperator(key)) {
        this.problem(
          fieldPath,
          `"${key}" is an operator and cannot be a field name inside $or; put it in a list: "field": [{ "${key}": ... }]`,
        );
      } else if (Array.isArray(value)) this.list(value, fieldPath);
      else if (isObject(value)) this.object(value, fieldPath, insideOr);
      else {
        const hint = value === undefined ? "" : `; to match it exactly write [${show(value)}]`;
        this.problem(fieldPath, `expected a list of values or a nested pattern, found ${show(value)}${hint}`);
      }
    }
  }

  or(value: unknown, path: string): void {
    if (!Array.isArray(value) || value.length < 2) {
      this.problem(
        path,
        `expected a list of at least two patterns, e.g. [{ "a": [1] }, { "b": [2] }], found ${show(value)}`,
      );
      if (!Array.isArray(value)) return;
    }
    value.forEach((option, index) => {
      if (isObject(option)) this.object(option, at(path, index), true);
      else this.problem(at(path, index), `each $or branch must be a pattern object, found ${show(option)}`);
    });
  }

  list(values: readonly unknown[], path: string): void {
    if (values.length === 0) {
      this.problem(path, 'empty lists are not allowed; list at least one value, or use [{ "exists": false }]');
    }
    values.forEach((value, index) => {
      const entryPath = at(path, index);
      if (value === null || typeof value === "string" || typeof value === "boolean") return;
      if (typeof value === "number") {
        if (!Number.isFinite(value)) this.problem(entryPath, `${value} is not a JSON number`);
      } else if (isObject(value)) this.expression(value, entryPath);
      else if (Array.isArray(value)) this.problem(entryPath, "lists cannot be nested; put the values in one list");
      else {
        this.problem(
          entryPath,
          `expected a string, number, true, false, null or a match expression, found ${show(value)}`,
        );
      }
    });
  }

  expression(expression: Json, path: string): void {
    const keys = Object.keys(expression);
    const [operator] = keys;
    if (operator === undefined) {
      this.problem(path, 'a match expression needs an operator, e.g. { "prefix": "order-" }');
      return;
    }
    if (keys.length > 1) {
      this.problem(
        path,
        `a match expression holds exactly one operator, found ${keys.join(", ")}; give each its own list entry`,
      );
      return;
    }
    const operand = expression[operator];
    const operatorPath = join(path, operator);
    switch (operator) {
      case "prefix":
      case "suffix":
        if (typeof operand === "string") return;
        if (
          isObject(operand) &&
          Object.keys(operand).length === 1 &&
          typeof operand["equals-ignore-case"] === "string"
        ) {
          return;
        }
        this.problem(operatorPath, `expected a string or { "equals-ignore-case": string }, found ${show(operand)}`);
        return;
      case "equals-ignore-case":
        if (typeof operand !== "string") this.problem(operatorPath, `expected a string, found ${show(operand)}`);
        return;
      case "wildcard":
        this.wildcard(operand, operatorPath);
        return;
      case "cidr":
        if (typeof operand !== "string") {
          this.problem(operatorPath, `expected a CIDR block such as "10.0.0.0/24", found ${show(operand)}`);
          return;
        }
        {
          const parsed = parseCidr(operand);
          if (!parsed.ok) this.problem(operatorPath, parsed.message);
        }
        return;
      case "exists":
        if (typeof operand !== "boolean") this.problem(operatorPath, `expected true or false, found ${show(operand)}`);
        return;
      case "numeric":
        this.numeric(operand, operatorPath);
        return;
      case "anything-but":
        this.anythingBut(operand, operatorPath);
        return;
      default: {
        const lower = operator.toLowerCase();
        const hint = isOperator(lower) ? `; operators are lower case: "${lower}"` : "";
        this.problem(operatorPath, `unknown operator "${operator}"; expected one of ${OPERATORS.join(", ")}${hint}`);
      }
    }
  }

  wildcard(operand: unknown, path: string): void {
    if (typeof operand !== "string") {
      this.problem(path, `expected a string such as "dir/*.png", found ${show(operand)}`);
      return;
    }
    const parsed = parseWildcard(operand);
    if (!parsed.ok) this.problem(path, parsed.message);
  }

  comparable(value: unknown, path: string, after: string): value is number {
    if (typeof value !== "number" || !Number.isFinite(value)) {
      this.problem(path, `expected a number after ${after}, found ${show(value)}`);
      return false;
    }
    if (Math.abs(value) > NUMERIC_LIMIT) {
      this.problem(path, `${value} is outside -5e9..5e9, the range EventBridge compares numbers in`);
      return false;
    }
    return true;
  }

  numeric(operand: unknown, path: string): void {
    const example = 'e.g. [">", 0, "<=", 5] or ["=", 300]';
    if (!Array.isArray(operand) || operand.length === 0) {
      this.problem(path, `expected a list of operators and numbers, ${example}, found ${show(operand)}`);
      return;
    }
    const [first, low, second, high] = operand as unknown[];
    if (typeof first !== "string" || !NUMERIC_OPERATORS.includes(first)) {
      this.problem(path, `expected an operator (${NUMERIC_OPERATORS.join(", ")}) first, found ${show(first)}`);
      return;
    }
    if (!this.comparable(low, path, `"${first}"`)) return;
    if (operand.length === 2) return;
    if (first !== ">" && first !== ">=") {
      this.problem(path, `"${first}" takes a single number; a range starts with ">" or ">=", ${example}`);
      return;
    }
    if (second !== "<" && second !== "<=") {
      this.problem(path, `the upper bound of a range needs "<" or "<=", found ${show(second)}; ${example}`);
      return;
    }
    if (!this.comparable(high, path, `"${second}"`)) return;
    if (operand.length > 4) {
      this.problem(path, `a range has at most two bounds, found ${operand.length} elements; ${example}`);
    } else if (low >= high) {
      this.problem(path, `the lower bound ${low} must be less than the upper bound ${high}`);
    }
  }

  anythingBut(operand: unknown, path: string): void {
    if (typeof operand === "string") return;
    if (typeof operand === "number") {
      this.comparable(operand, path, "anything-but");
      return;
    }
    if (Array.isArray(operand)) {
      if (operand.length === 0) {
        this.problem(path, "expected at least one value to exclude");
      } else if (operand.every((value) => typeof value === "number")) {
        operand.forEach((value, index) => {
          this.comparable(value, at(path, index), "anything-but");
        });
      } else if (!operand.every((value) => typeof value === "string")) {
        this.problem(path, `a list in anything-but holds only strings or only numbers, found ${show(operand)}`);
      }
      return;
    }
    if (!isObject(operand)) {
      this.problem(path, `expected a string, a number, a list of them, or an operator object, found ${show(operand)}`);
      return;
    }
    const keys = Object.keys(operand);
    const [inner] = keys;
    if (inner === undefined || keys.length > 1) {
      this.problem(
        path,
        `expected exactly one of prefix, suffix, equals-ignore-case, wildcard, found ${show(operand)}`,
      );
      return;
    }
    const innerPath = join(path, inner);
    const value = operand[inner];
    const values = Array.isArray(value) ? value : [value];
    const stringList = values.length > 0 && values.every((entry) => typeof entry === "string");
    switch (inner) {
      case "prefix":
      case "suffix":
        if (isObject(value)) {
          this.problem(innerPath, `anything-but cannot combine ${inner} with equals-ignore-case`);
        } else if (!stringList) {
          this.problem(innerPath, `expected a string or a list of strings, found ${show(value)}`);
        } else if (values.includes("")) {
          this.problem(innerPath, `an empty ${inner} would exclude every string; give a non-empty ${inner}`);
        }
        return;
      case "equals-ignore-case":
        if (!stringList) this.problem(innerPath, `expected a string or a list of strings, found ${show(value)}`);
        return;
      case "wildcard":
        if (!stringList) this.problem(innerPath, `expected a string or a list of strings, found ${show(value)}`);
        else if (Array.isArray(value)) {
          value.forEach((entry, index) => {
            this.wildcard(entry, at(innerPath, index));
          });
        } else this.wildcard(value, innerPath);
        return;
      default:
        this.problem(
          innerPath,
          `anything-but supports prefix, suffix, equals-ignore-case and wildcard, not "${inner}"`,
        );
    }
  }
}

/** How many branches `$or` expands a valid pattern into, counted as EventBridge counts them. */
function combinations(pattern: Json): number {
  let count = 1;
  for (const [key, value] of Object.entries(pattern)) {
    if (key === "$or" && Array.isArray(value)) {
      count *= value.reduce((sum: number, option) => sum + combinations(option as Json), 0);
    } else if (isObject(value)) {
      count *= combinations(value);
    }
    // Stop multiplying once over the limit; the exact figure no longer matters.
    if (count > MAX_OR_COMBINATIONS) return count;
  }
  return count;
}

/** A checked pattern: its problems and, when it has none, the branches it expands into. */
export interface PatternAnalysis {
  issues: PatternIssue[];
  branches: ObjectBranch[];
}

/** Checks `pattern` and expands it once, for callers that go on to compile it. */
export function analysePattern(pattern: unknown): PatternAnalysis {
  const checker = new Checker();
  const failed = () => ({ issues: checker.issues, branches: [] });
  if (!isObject(pattern)) {
    checker.problem(
      "",
      `an event pattern must be a JSON object such as { "source": ["orders"] }, found ${show(pattern)}`,
    );
    return failed();
  }
  let json: string;
  try {
    json = JSON.stringify(pattern);
  } catch (error) {
    checker.problem("", `the pattern is not plain JSON: ${(error as Error).message}`);
    return failed();
  }
  if (json.length > MAX_PATTERN_LENGTH) {
    checker.problem("", `the pattern is ${json.length} characters of JSON; the limit is ${MAX_PATTERN_LENGTH}`);
  }
  checker.object(pattern, "", false);
  if (checker.issues.length > 0) return failed();

  if (combinations(pattern) > MAX_OR_COMBINATIONS) {
    checker.problem(
      "",
      `$or expands the pattern into more than ${MAX_OR_COMBINATIONS} combinations, the most EventBridge allows; ` +
        "move shared fields out of $or or split the rule",
    );
    return failed();
  }
  const expansion = expandPattern(pattern);
  for (const path of expansion.conflicts) {
    checker.problem(
      path,
      `the same branch matches this field both as a list of values and as a nested object (a key with dots such as "${path}.name" nests too); use one`,
    );
  }
  return checker.issues.length > 0 ? failed() : { issues: [], branches: expansion.branches };
}

/**
 * Every problem in `pattern`, each with the path inside the pattern where it is, e.g.
 * `{ path: "detail.total[0].numeric", message: "..." }`. Empty when the pattern is valid.
 */
export function patternProblems(pattern: unknown): PatternIssue[] {
  return analysePattern(pattern).issues;
}

/** Throws a `PatternError` (code `NIMBUS_PATTERN_INVALID`) listing every problem, unless `pattern` is valid. */
export function validatePattern(pattern: unknown): void {
  const issues = patternProblems(pattern);
  if (issues.length > 0) throw new PatternError(issues);
}
