import { otherSpellings } from "./dotted-keys.ts";
import type { LeafBranch, ObjectBranch } from "./expand.ts";
import { compileLeafTests, type Leaf, type LeafTest } from "./leaf.ts";
import { anyLeaf, fieldValue, hasLeaf } from "./values.ts";

/**
 * How a field or nested pattern can be satisfied: only by values (`positive`), only by absence
 * (`negative`: nothing but `{ "exists": false }` below), or either way (`mixed`).
 *
 * It matters where the event holds an array. Values must all come from one element, so a positive
 * pattern matches when some element matches it; absence means no element has the field, so a
 * negative pattern must hold for every element. A mixed pattern may be satisfied either way.
 */
export type Polarity = "positive" | "negative" | "mixed";

/** A field matched against a list of values, compiled. */
export interface LeafField {
  kind: "leaf";
  key: string;
  /** Dotted path from the event root, for explanations. */
  path: string;
  /** The list holds `{ "exists": false }`: the field may have no value. */
  absent: boolean;
  /** The other entries of the list. */
  tests: readonly LeafTest[];
  accepts: (value: Leaf) => boolean;
  polarity: Polarity;
}

/** A field holding a nested pattern, compiled. */
export interface NodeField {
  kind: "node";
  key: string;
  path: string;
  node: BranchNode;
}

export type BranchField = LeafField | NodeField;

/** One `$or`-free branch of a pattern at one object level. */
export interface BranchNode {
  fields: readonly BranchField[];
  polarity: Polarity;
  test: (value: unknown) => boolean;
  /** `POSITIVE | NEGATIVE` bits: how `value` satisfies this node, 0 when it does not. */
  satisfies: (value: unknown) => number;
}

const POSITIVE = 1;
const NEGATIVE = 2;

/** Whether a leaf field is satisfied by the content of its field. */
export function leafHolds(field: LeafField, content: unknown): boolean {
  switch (field.polarity) {
    case "positive":
      // Most event fields hold a string; skip the generic walk for them.
      return typeof content === "string" ? field.accepts(content) : anyLeaf(content, field.accepts);
    case "negative":
      return !hasLeaf(content);
    case "mixed":
      return !hasLeaf(content) || anyLeaf(content, field.accepts);
  }
}

const join = (path: string, key: string): string => (path === "" ? key : `${path}.${key}`);

function compileLeaf(key: string, path: string, branch: LeafBranch): LeafField {
  const tests = compileLeafTests(branch.entries);
  const [only] = tests;
  const accepts =
    tests.length === 1 && only ? only.test : (value: Leaf) => tests.some((candidate) => candidate.test(value));
  const polarity: Polarity = !branch.absent ? "positive" : tests.length === 0 ? "negative" : "mixed";
  return { kind: "leaf", key, path, absent: branch.absent, tests, accepts, polarity };
}

function fieldCheck(field: BranchField): (value: unknown) => boolean {
  const { key } = field;
  if (field.kind === "node") {
    const test = field.node.test;
    return (value) => test(fieldValue(value, key));
  }
  if (field.polarity === "positive") {
    const accepts = field.accepts;
    return (value) => {
      const content = fieldValue(value, key);
      return typeof content === "string" ? accepts(content) : anyLeaf(content, accepts);
    };
  }
  return (value) => leafHolds(field, fieldValue(value, key));
}

/** The POSITIVE/NEGATIVE bits of one field, for mixed nodes. */
function fieldSatisfies(field: BranchField, value: unknown): number {
  const content = fieldValue(value, field.key);
  if (field.kind === "node") return field.node.satisfies(content);
  if (!hasLeaf(content)) return field.polarity === "positive" ? 0 : NEGATIVE;
  return field.polarity !== "negative" && anyLeaf(content, field.accepts) ? POSITIVE : 0;
}

function polarityOf(fields: readonly BranchField[]): Polarity {
  const polarities = fields.map((field) => (field.kind === "leaf" ? field.polarity : field.node.polarity));
  if (polarities.includes("positive")) return "positive";
  return polarities.every((polarity) => polarity === "negative") ? "negative" : "mixed";
}

/** Compiles one expanded branch (or a nested object of one) at `path`. */
export function compileNode(branch: ObjectBranch, path: string): BranchNode {
  const fields: BranchField[] = [];
  for (const [key, field] of branch.fields) {
    const fieldPath = join(path, key);
    fields.push(
      field.kind === "leaf"
        ? compileLeaf(key, fieldPath, field)
        : { kind: "node", key, path: fieldPath, node: compileNode(field, fieldPath) },
    );
  }
  const polarity = polarityOf(fields);
  if (polarity === "mixed") return mixedNode(fields);

  const testObject = allOf(fields.map(fieldCheck));
  const test =
    polarity === "positive"
      ? (value: unknown): boolean => (Array.isArray(value) ? value.some(test) : testObject(value))
      : (value: unknown): boolean => (Array.isArray(value) ? value.every(test) : testObject(value));
  const bit = polarity === "positive" ? POSITIVE : NEGATIVE;
  return { fields, polarity, test, satisfies: (value) => (test(value) ? bit : 0) };
}

/** The conjunction of checks, unrolled for the usual one to three fields. */
function allOf(checks: readonly ((value: unknown) => boolean)[]): (value: unknown) => boolean {
  const [a, b, c] = checks;
  if (a === undefined) return () => true;
  if (b === undefined) return a;
  if (c === undefined) return (value) => a(value) && b(value);
  if (checks.length === 3) return (value) => a(value) && b(value) && c(value);
  return (value) => {
    for (const check of checks) if (!check(value)) return false;
    return true;
  };
}

/**
 * A node that values or absence can satisfy, so it reports how: over an array it holds positively
 * when some element holds with a value, and negatively when every element holds by absence.
 */
function mixedNode(fields: readonly BranchField[]): BranchNode {
  const satisfies = (value: unknown): number => {
    if (Array.isArray(value)) {
      let positive = false;
      let negative = true;
      for (const element of value) {
        const bits = satisfies(element);
        if (bits & POSITIVE) positive = true;
        if (!(bits & NEGATIVE)) negative = false;
        if (positive && !negative) break;
      }
      return (positive ? POSITIVE : 0) | (negative ? NEGATIVE : 0);
    }
    let positive = false;
    let negative = true;
    for (const field of fields) {
      const bits = fieldSatisfies(field, value);
      if (bits === 0) return 0;
      if (bits & POSITIVE) positive = true;
      if (!(bits & NEGATIVE)) negative = false;
    }
    return (positive ? POSITIVE : 0) | (negative ? NEGATIVE : 0);
  };
  return { fields, polarity: "mixed", test: (value) => satisfies(value) !== 0, satisfies };
}

/** A leaf of a branch with the path of objects leading to it. */
export interface PathLeaf {
  parents: readonly string[];
  field: LeafField;
  /** Set when the field needs exactly this string, the most common check of all. */
  text: string | undefined;
}

/** Every leaf of `node` with its path, in pattern order. */
export function pathLeaves(node: BranchNode, parents: readonly string[], into: PathLeaf[]): PathLeaf[] {
  for (const field of node.fields) {
    if (field.kind === "node") {
      pathLeaves(field.node, [...parents, field.key], into);
      continue;
    }
    const [test] = field.tests;
    const [only] = test?.exact ?? [];
    const text =
      field.polarity === "positive" && field.tests.length === 1 && test?.exact?.length === 1 ? only : undefined;
    into.push({ parents, field, text: typeof text === "string" ? text : undefined });
  }
  return into;
}

/**
 * The test of a whole branch, flattened: while no array sits between the event root and a leaf,
 * the branch holds exactly when every leaf does, so each leaf is read straight by its path. Only
 * when an array turns up does it defer to the nested test, which knows how arrays combine. With
 * thousands of rules this matters: each test touches a few objects instead of a chain of closures.
 */
export function branchTest(node: BranchNode): (event: unknown) => boolean {
  const leaves = pathLeaves(node, [], []);
  const nested = node.test;
  return (event) => {
    if (Array.isArray(event)) return nested(event);
    for (const leaf of leaves) {
      let parent = event;
      for (const key of leaf.parents) {
        parent = fieldValue(parent, key);
        if (Array.isArray(parent)) return nested(event);
      }
      const content = fieldValue(parent, leaf.field.key);
      if (leaf.text !== undefined && content === leaf.text) continue;
      if (!leafHolds(leaf.field, content)) return false;
    }
    return true;
  };
}

/**
 * `test` (a branch test for events in nested shape) for any event: when the event spells one of the
 * branch's paths with dots (`{ "detail.total": 5 }`), it is first given its nested shape by `read`.
 * Looking for the other spellings costs a missed property read per spelling, so top-level fields,
 * which have no other spelling and read the same either way, are checked first: most rules fail on
 * `source` and then pay nothing.
 */
export function spellingTest(
  node: BranchNode,
  test: (event: unknown) => boolean,
  read: (event: unknown) => unknown,
): (event: unknown) => boolean {
  const leaves = pathLeaves(node, [], []);
  const others = leaves.flatMap((leaf) => otherSpellings([...leaf.parents, leaf.field.key]));
  if (others.length === 0) return test;
  const top = leaves.filter((leaf) => leaf.parents.length === 0);
  return (event) => {
    if (typeof event !== "object" || event === null) return test(event);
    if (Array.isArray(event)) return test(read(event));
    for (const leaf of top) {
      const content = fieldValue(event, leaf.field.key);
      if (!(leaf.text !== undefined && content === leaf.text) && !leafHolds(leaf.field, content)) return false;
    }
    for (const keys of others) {
      if (holdsAt(event, keys)) return test(read(event));
    }
    return test(event);
  };
}

/** Whether anything lies at `keys`, or an array on the way there (which may hold it). */
function holdsAt(event: unknown, keys: readonly string[]): boolean {
  let current = event;
  for (const key of keys) {
    if (Array.isArray(current)) return true;
    current = fieldValue(current, key);
    if (current === undefined) return false;
  }
  return true;
}
