import { type BranchNode, branchTest, compileNode } from "./branch.ts";
import { PatternError } from "./pattern-error.ts";
import type { EventPattern } from "./types.ts";
import { analysePattern } from "./validate.ts";

/** A validated pattern compiled into branches; it matches when any branch does. */
export interface CompiledPattern {
  branches: readonly BranchNode[];
  /** `branchTest` of each branch, in the same order. */
  tests: readonly ((event: unknown) => boolean)[];
  test: (event: unknown) => boolean;
}

/** Validates and compiles a pattern; throws `PatternError` naming `subject` when it is invalid. */
export function compilePattern(pattern: unknown, subject?: string): CompiledPattern {
  const analysis = analysePattern(pattern);
  if (analysis.issues.length > 0) throw new PatternError(analysis.issues, subject);
  const branches = analysis.branches.map((branch) => compileNode(branch, ""));
  const tests = branches.map(branchTest);
  const [only] = tests;
  const test =
    tests.length === 1 && only ? only : (event: unknown) => tests.some((branchMatches) => branchMatches(event));
  return { branches, tests, test };
}

// Patterns are treated as immutable once used, so each is validated and compiled only once.
const compiled = new WeakMap<object, CompiledPattern>();

/** The compiled form of `pattern`, cached per pattern object. */
export function compiledPattern(pattern: EventPattern): CompiledPattern {
  let result = compiled.get(pattern);
  if (result === undefined) {
    result = compilePattern(pattern);
    compiled.set(pattern, result);
  }
  return result;
}

/**
 * Whether `event` matches `pattern`, with EventBridge's semantics. The pattern is validated (throwing a
 * `PatternError` when invalid) and compiled on first use, then cached: do not mutate it afterwards.
 *
 * @example matchesPattern({ source: ["orders"] }, { source: "orders", detail: {} }) // true
 */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  return compiledPattern(pattern).test(event);
}
