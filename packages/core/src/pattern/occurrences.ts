import { type BranchNode, type LeafField, pathLeaves } from "./branch.ts";
import type { Leaf } from "./leaf.ts";
import { fieldValue } from "./values.ts";

/**
 * Matching one branch by occurrences: every leaf of the event with the dot-joined path of keys
 * that leads to it and the array elements it lies in. Values picked for the branch's fields must
 * not come from different elements of one array, and `exists: false` holds when no value of the
 * field lies in an element compatible with those picked.
 *
 * The nested matcher (branch.ts) reads the same semantics off the event's shape, which is exact
 * except in one case: an event that spells one path both with dots and with nested keys, with an
 * array on one side (`{ "b": [ … ], "b.c": … }`). Its nested shape must pair every element of the
 * one side with the other (dotted-keys.ts), and a pair pins an element where the event has none,
 * so absence would be looked for in that element only. Such events come here; this is a search,
 * slower than the nested test, and no other event pays for it.
 */

interface Occurrence {
  value: Leaf;
  /** Array id → index of the element, for each array on the way to the leaf. */
  within: ReadonlyMap<number, number>;
}

const isLeaf = (value: unknown): value is Leaf =>
  value === null || typeof value === "string" || typeof value === "number" || typeof value === "boolean";

/** The occurrences of the paths in `wanted`, found below only the prefixes in `leading`. */
function occurrencesOf(event: unknown, wanted: ReadonlySet<string>, leading: ReadonlySet<string>) {
  const found = new Map<string, Occurrence[]>();
  let arrays = 0;
  const visit = (value: unknown, path: string, within: ReadonlyMap<number, number>): void => {
    if (Array.isArray(value)) {
      const id = arrays++;
      value.forEach((element, index) => {
        visit(element, path, new Map(within).set(id, index));
      });
    } else if (isLeaf(value)) {
      if (!wanted.has(path)) return;
      const list = found.get(path);
      if (list) list.push({ value, within });
      else found.set(path, [{ value, within }]);
    } else if (typeof value === "object" && value !== null) {
      for (const key of Object.keys(value)) {
        const below = path === "" ? key : `${path}.${key}`;
        if (wanted.has(below) || leading.has(below)) visit(fieldValue(value, key), below, within);
      }
    }
  };
  visit(event, "", new Map());
  return found;
}

const compatible = (a: ReadonlyMap<number, number>, b: ReadonlyMap<number, number>): boolean => {
  for (const [id, index] of b) {
    const other = a.get(id);
    if (other !== undefined && other !== index) return false;
  }
  return true;
};

interface OccurrenceTest {
  test: (event: unknown) => boolean;
  /** The first field that must be absent but has a value in `event`. */
  present: (event: unknown) => LeafField | undefined;
}

// Built for a branch the first time an event needs it (few ever do), then kept with the branch.
const built = new WeakMap<BranchNode, OccurrenceTest>();

/** The test of one branch by occurrences, and its fields that must be absent but are not. */
export function occurrenceTest(node: BranchNode): OccurrenceTest {
  let result = built.get(node);
  if (result === undefined) {
    result = buildOccurrenceTest(node);
    built.set(node, result);
  }
  return result;
}

function buildOccurrenceTest(node: BranchNode): OccurrenceTest {
  const fields = pathLeaves(node, [], []).map((leaf) => leaf.field);
  const wanted = new Set(fields.map((field) => field.path));
  const leading = new Set<string>();
  for (const path of wanted) {
    for (let dot = path.indexOf("."); dot >= 0; dot = path.indexOf(".", dot + 1)) leading.add(path.slice(0, dot));
  }
  const test = (event: unknown): boolean => {
    const found = occurrencesOf(event, wanted, leading);
    const absent: LeafField[] = [];
    const pick = (i: number, pinned: ReadonlyMap<number, number>): boolean => {
      const field = fields[i];
      if (field === undefined) {
        return absent.every((gone) => !(found.get(gone.path) ?? []).some((o) => compatible(pinned, o.within)));
      }
      if (field.polarity !== "negative") {
        for (const occurrence of found.get(field.path) ?? []) {
          if (!compatible(pinned, occurrence.within) || !field.accepts(occurrence.value)) continue;
          if (pick(i + 1, new Map([...pinned, ...occurrence.within]))) return true;
        }
      }
      if (!field.absent) return false;
      absent.push(field);
      const holds = pick(i + 1, pinned);
      absent.pop();
      return holds;
    };
    return pick(0, new Map());
  };
  const present = (event: unknown): LeafField | undefined => {
    const found = occurrencesOf(event, wanted, leading);
    return fields.find((field) => field.absent && found.has(field.path));
  };
  return { test, present };
}
