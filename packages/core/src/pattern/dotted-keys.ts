import type { BranchNode } from "./branch.ts";
import { fieldValue } from "./values.ts";

/**
 * AWS's engine (Ruler) flattens patterns and events alike into dot-joined paths, so an event field
 * written with dots, `{ "state.status": "x" }`, is the same field as `{ "state": { "status": "x" } }`.
 * Patterns are split at the dots when they are expanded (expand.ts); events are brought into the
 * nested shape here, before matching, so that the matcher, the index and `explain` walk only nested
 * objects. When an event holds a field both ways, both values are candidates, as in Ruler.
 *
 * Only the paths some pattern reads matter, so only objects on those paths are looked at, and each
 * only for the dotted keys that lead along them; an event without such keys is returned as it is.
 * Even that costs a missed property read per dotted key looked for, so the matchers do it only once
 * `otherSpellings` of a path they read turns up a value.
 */

/** A segment of the paths the patterns read, and what an event object there may hold. */
interface PathNode {
  children: Map<string, PathNode>;
  /** Dotted keys that lead along the paths from here, e.g. `state.status`. */
  dotted: Set<string>;
  /** The same, to probe for one by one while there are few. */
  probes: readonly string[];
  /** Children below which some object may hold a dotted key. */
  deep: readonly (readonly [string, PathNode])[];
}

/** Past this many dotted keys to look for, reading the object's own keys once is cheaper. */
const MAX_PROBES = 16;

const node = (): PathNode => ({ children: new Map(), dotted: new Set(), probes: [], deep: [] });

function addBranch(into: PathNode, branch: BranchNode): void {
  for (const field of branch.fields) {
    let child = into.children.get(field.key);
    if (child === undefined) {
      child = node();
      into.children.set(field.key, child);
    }
    if (field.kind === "node") addBranch(child, field.node);
  }
}

/** Fills in `dotted`, `probes` and `deep`; returns the paths below `at` as dotted strings. */
function finish(at: PathNode): string[] {
  const below: string[] = [];
  const deep: [string, PathNode][] = [];
  for (const [key, child] of at.children) {
    below.push(key);
    for (const path of finish(child)) {
      const dotted = `${key}.${path}`;
      below.push(dotted);
      at.dotted.add(dotted);
    }
    if (child.dotted.size > 0 || child.deep.length > 0) deep.push([key, child]);
  }
  at.probes = [...at.dotted];
  at.deep = deep;
  return below;
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const isLeaf = (value: unknown): boolean =>
  value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean";

/** A copy we may write to; a null prototype keeps keys such as `__proto__` plain data. */
const copyOf = (object: Json): Json => Object.assign(Object.create(null) as Json, object);

/** The objects and leaves a value holds, looking through arrays at any depth. */
function parts(value: unknown, objects: Json[], leaves: unknown[]): void {
  if (Array.isArray(value)) for (const element of value) parts(element, objects, leaves);
  else if (isObject(value)) objects.push(value);
  else if (isLeaf(value)) leaves.push(value);
}

/** What giving one event its nested shape found. */
interface Reading {
  /** Objects of two spellings were paired (see `combine`): the shape is inexact for absence. */
  paired: boolean;
}

/**
 * Two values found at the same path by different spellings, as one. Neither lies in an array of
 * the other, so anything of one may be matched together with anything of the other: objects merge,
 * and when either side is an array its elements are paired with every element of the other (an
 * array's elements stay alternatives, exactly as they were). Leaves become further elements; a
 * pattern never needs a leaf at a path and a field below it in one branch, so that is safe.
 *
 * A pair is exact for values but not for absence: it pins an element of the array, where the event
 * has the other side outside that array, so `exists: false` would be checked in that element only.
 * `reading.paired` records it, and `pairedOriginal` then sends the event to occurrences.ts.
 */
function combine(a: unknown, b: unknown, reading: Reading): unknown {
  if (a === undefined) return b;
  if (b === undefined) return a;
  if (isObject(a) && isObject(b)) {
    const merged = copyOf(a);
    for (const key of Object.keys(b)) merged[key] = combine(fieldValue(merged, key), fieldValue(b, key), reading);
    return merged;
  }
  const objectsA: Json[] = [];
  const objectsB: Json[] = [];
  const leaves: unknown[] = [];
  parts(a, objectsA, leaves);
  parts(b, objectsB, leaves);
  let objects: unknown[];
  if (objectsA.length === 0) objects = objectsB;
  else if (objectsB.length === 0) objects = objectsA;
  else {
    reading.paired = true;
    objects = objectsA.flatMap((left) => objectsB.map((right) => combine(left, right, reading)));
  }
  return [...objects, ...leaves];
}

/** `value` placed under the remaining segments of a dotted key. */
function nest(segments: readonly string[], from: number, value: unknown): unknown {
  let nested = value;
  for (let i = segments.length - 1; i >= from; i--) {
    const object = Object.create(null) as Json;
    object[segments[i] ?? ""] = nested;
    nested = object;
  }
  return nested;
}

function holdsDotted(object: Json, at: PathNode): boolean {
  if (at.probes.length <= MAX_PROBES) {
    for (const key of at.probes) if (fieldValue(object, key) !== undefined) return true;
    return false;
  }
  for (const key of Object.keys(object)) if (at.dotted.has(key)) return true;
  return false;
}

/** `object` with each dotted key that leads along the paths moved to where its dots point. */
function unfold(object: Json, at: PathNode, reading: Reading): Json {
  const result = copyOf(object);
  for (const key of Object.keys(object)) {
    if (!at.dotted.has(key)) continue;
    const value = fieldValue(object, key);
    if (value === undefined) continue;
    const segments = key.split(".");
    const [first = ""] = segments;
    result[first] = combine(fieldValue(result, first), nest(segments, 1, value), reading);
  }
  return result;
}

function normalize(value: unknown, at: PathNode, reading: Reading): unknown {
  if (typeof value !== "object" || value === null) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const element: unknown = value[i];
      const normal = normalize(element, at, reading);
      if (normal !== element) {
        copy ??= [...value];
        copy[i] = normal;
      }
    }
    return copy ?? value;
  }
  const original = value as Json;
  const object = at.probes.length > 0 && holdsDotted(original, at) ? unfold(original, at, reading) : original;
  let copy = object === original ? undefined : object;
  for (const [key, child] of at.deep) {
    const content = fieldValue(object, key);
    const normal = normalize(content, child, reading);
    if (normal !== content) {
      copy ??= copyOf(object);
      copy[key] = normal;
    }
  }
  return copy ?? object;
}

/**
 * A function that gives an event the nested shape the compiled `branches` read, or undefined when
 * they read no path that a dotted key could spell (every field at the top level).
 */
export function dottedKeyReader(branches: readonly BranchNode[]): ((event: unknown) => unknown) | undefined {
  const root = node();
  for (const branch of branches) addBranch(root, branch);
  finish(root);
  if (root.dotted.size === 0 && root.deep.length === 0) return undefined;
  return (event) => {
    const reading: Reading = { paired: false };
    const nested = normalize(event, root, reading);
    // A pair is made only in a copy, so the nested shape is a new object.
    if (reading.paired) pairedEvents.set(nested as object, event);
    return nested;
  };
}

/** Nested shapes that paired two spellings (see `combine`), with the event each was read from. */
const pairedEvents = new WeakMap<object, unknown>();

/** The event a nested shape was read from when that reading paired two spellings; else undefined. */
export function pairedOriginal(nested: unknown): unknown {
  return typeof nested === "object" && nested !== null ? pairedEvents.get(nested) : undefined;
}

/**
 * The ways other than nested keys in which an event can spell `segments`, as lists of keys:
 * `["a", "b", "c"]` can also be `["a.b", "c"]`, `["a", "b.c"]` or `["a.b.c"]`.
 */
export function otherSpellings(segments: readonly string[]): string[][] {
  if (segments.length < 2) return [];
  const all: string[][] = [[segments[0] ?? ""]];
  for (const segment of segments.slice(1)) {
    const extended: string[][] = [];
    for (const keys of all) {
      extended.push([...keys, segment]);
      extended.push([...keys.slice(0, -1), `${keys.at(-1)}.${segment}`]);
    }
    all.splice(0, all.length, ...extended);
  }
  // The first is the nested spelling itself.
  return all.slice(1);
}
