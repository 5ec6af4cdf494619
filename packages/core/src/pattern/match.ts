import { type BranchNode, branchTest, compileNode, spellingTest } from "./branch.ts";
import { dottedKeyReader, pairedOriginal } from "./dotted-keys.ts";
import { occurrenceTest } from "./occurrences.ts";
import { PatternError } from "./pattern-error.ts";
import type { EventPattern } from "./types.ts";
import { analysePattern } from "./validate.ts";

/** A validated pattern compiled into branches; it matches when any branch does. */
export interface CompiledPattern {
  branches: readonly BranchNode[];
  /** `branchTest` of each branch, in the same order; they expect an event given its nested shape by `read`. */
  tests: readonly ((event: unknown) => boolean)[];
  /** Gives an event's dotted keys (`"state.status"`) their nested shape; undefined when no path needs it. */
  read: ((event: unknown) => unknown) | undefined;
  test: (event: unknown) => boolean;
}

/** Validates and compiles a pattern; throws `PatternError` naming `subject` when it is invalid. */
export function compilePattern(pattern: unknown, subject?: string): CompiledPattern {
  const analysis = analysePattern(pattern);
  if (analysis.issues.length > 0) throw new PatternError(analysis.issues, subject);
  const branches = analysis.branches.map((branch) => compileNode(branch, ""));
  const read = dottedKeyReader(branches);
  const tests = branches.map((branch) => (read ? exactWhenPaired(branch) : branchTest(branch)));
  const spelled = read
    ? branches.map((branch, i) => spellingTest(branch, tests[i] as (typeof tests)[number], read))
    : tests;
  const [only] = spelled;
  const test =
    spelled.length === 1 && only ? only : (event: unknown) => spelled.some((branchMatches) => branchMatches(event));
  return { branches, tests, read, test };
}

/**
 * `branchTest`, except for an event whose nested shape paired two spellings of a path
 * (dotted-keys.ts `combine`): that one is matched by its occurrences, which is exact there.
 */
function exactWhenPaired(branch: BranchNode): (event: unknown) => boolean {
  const nested = branchTest(branch);
  return (event) => {
    const original = pairedOriginal(event);
    return original === undefined ? nested(event) : occurrenceTest(branch).test(original);
  };
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
