import { type BranchNode, type LeafField, leafHolds } from "./branch.ts";
import { pairedOriginal } from "./dotted-keys.ts";
import { formatLeaf, type Leaf } from "./leaf.ts";
import { compiledPattern } from "./match.ts";
import { occurrenceTest } from "./occurrences.ts";
import type { EventPattern, MatchExplanation } from "./types.ts";
import { fieldValue } from "./values.ts";

type Failure = Extract<MatchExplanation, { matched: false }>;

function leavesOf(value: unknown, into: Leaf[] = []): Leaf[] {
  if (Array.isArray(value)) for (const element of value) leavesOf(element, into);
  else if (value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean") {
    into.push(value);
  }
  return into;
}

function describeMissing(value: unknown): string {
  if (value === undefined) return "field is missing";
  if (Array.isArray(value))
    return value.length === 0 ? "field is an empty list" : "field holds no values, only objects";
  return "field holds an object, not a value";
}

function leafFailure(field: LeafField, value: unknown): Failure {
  const path = field.path;
  if (field.polarity === "negative") {
    const shown = leavesOf(value).map(formatLeaf).join(", ");
    return { matched: false, path, operator: "exists", reason: `field exists (${shown})` };
  }
  const operators = new Set(field.tests.map((test) => test.operator));
  if (field.absent) operators.add("exists");
  const operator = [...operators].join("|");
  const leaves = leavesOf(value);
  const [first] = leaves;
  if (first === undefined) return { matched: false, path, operator, reason: describeMissing(value) };
  const why = field.tests.map((test) => test.why(first)).join("; ");
  const reason = leaves.length === 1 ? why : `no value of [${leaves.map(formatLeaf).join(", ")}] matched (${why})`;
  return { matched: false, path, operator, reason };
}

/** Retraces `BranchNode.test` for a value it rejects, down to the first field that fails. */
function explainNode(node: BranchNode, value: unknown, path: string): Failure | undefined {
  if (node.test(value)) return undefined;
  if (Array.isArray(value)) {
    const index = value.findIndex((element) => !node.test(element));
    if (index < 0) return explainNode(node, undefined, path);
    const failure = explainNode(node, value[index], path);
    if (!failure) return undefined;
    const where =
      node.polarity === "positive"
        ? `in the first of ${value.length} elements of ${path}; none matched`
        : `in element ${index} of ${path}`;
    return { ...failure, reason: `${failure.reason} (${where})` };
  }
  for (const field of node.fields) {
    const content = fieldValue(value, field.key);
    if (field.kind === "node") {
      const failure = explainNode(field.node, content, field.path);
      if (failure) return failure;
    } else if (!leafHolds(field, content)) {
      return leafFailure(field, content);
    }
  }
  return undefined;
}

/**
 * `explainNode` for an event whose nested shape paired two spellings of a path (dotted-keys.ts):
 * the verdict is the exact test's, and where the nested shape saw no failure, the field that had
 * to be absent is present, spelled with dots in one place and nested in another.
 */
function pairedFailure(
  branch: BranchNode,
  test: ((event: unknown) => boolean) | undefined,
  subject: unknown,
  original: unknown,
): Failure | undefined {
  if (test?.(subject)) return undefined;
  const failure = explainNode(branch, subject, "");
  if (failure) return failure;
  const present = occurrenceTest(branch).present(original);
  const path = present?.path ?? "";
  return {
    matched: false,
    path,
    operator: "exists",
    reason:
      "field exists (the event spells this path both with dots and with nested keys; absence counts the values of both)",
  };
}

/**
 * Says whether `event` matches `pattern` and, if not, which field and operator rejected it and why:
 * `{ matched: false, path: "detail.total", operator: "numeric", reason: "0 is not > 0" }`. Fields are
 * checked in pattern order; for `$or`, the failure of the first branch is reported. The path is dotted
 * whichever way the pattern or the event spells it: `{ "detail.total": [...] }` reports `detail.total`.
 */
export function explain(pattern: EventPattern, event: unknown): MatchExplanation {
  const { branches, tests, read } = compiledPattern(pattern);
  const subject = read ? read(event) : event;
  const original = pairedOriginal(subject);
  let first: Failure | undefined;
  for (const [i, branch] of branches.entries()) {
    const failure =
      original === undefined ? explainNode(branch, subject, "") : pairedFailure(branch, tests[i], subject, original);
    if (!failure) return { matched: true };
    first ??= failure;
  }
  if (!first) return { matched: true };
  if (branches.length === 1) return first;
  return { ...first, reason: `${first.reason} (no $or branch matched; this is the first branch)` };
}
