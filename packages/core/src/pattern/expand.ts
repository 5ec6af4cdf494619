import type { MatchValue } from "./types.ts";

/**
 * Expands a (valid) pattern into the branches EventBridge evaluates: every `$or` multiplies the
 * branches, as AWS's engine compiles them. Validation caps the count at 1000. A key written with
 * dots is a path, as in AWS's engine, which joins nested keys with `.`: `{ "state.status": [1] }`
 * expands to the same branch as `{ "state": { "status": [1] } }` (events: see dotted-keys.ts).
 */

/** A field's list in one branch: whether it allows "absent", and its other entries (any of them). */
export interface LeafBranch {
  kind: "leaf";
  /** The list holds `{ "exists": false }`. */
  absent: boolean;
  /** The other entries. */
  entries: readonly MatchValue[];
}

/** A nested object in one branch, fields in pattern order. */
export interface ObjectBranch {
  kind: "object";
  fields: ReadonlyMap<string, LeafBranch | ObjectBranch>;
}

export interface Expansion {
  branches: ObjectBranch[];
  /** Paths that one branch uses both as a value list and as a nested object. */
  conflicts: string[];
}

const isExistsFalse = (entry: MatchValue): boolean =>
  typeof entry === "object" && entry !== null && "exists" in entry && entry.exists === false;

function leaf(list: readonly MatchValue[]): LeafBranch {
  const entries = list.filter((entry) => !isExistsFalse(entry));
  return { kind: "leaf", absent: entries.length < list.length, entries };
}

const join = (path: string, key: string): string => (path === "" ? key : `${path}.${key}`);

/**
 * Merges `addition` into `base`; later fields win over earlier ones, as in EventBridge where the last
 * mention of a field counts. Nested objects merge, so `$or` branches extend the same object.
 */
function merge(base: ObjectBranch, addition: ObjectBranch, path: string, conflicts: Set<string>): ObjectBranch {
  const fields = new Map(base.fields);
  for (const [key, field] of addition.fields) {
    const existing = fields.get(key);
    if (existing?.kind === "object" && field.kind === "object") {
      fields.set(key, merge(existing, field, join(path, key), conflicts));
    } else {
      if (existing !== undefined && existing.kind !== field.kind) conflicts.add(join(path, key));
      fields.set(key, field);
    }
  }
  return { kind: "object", fields };
}

/** An object holding `field` at `key`, nested one level per dot in the key. */
function single(key: string, field: LeafBranch | ObjectBranch): ObjectBranch {
  const segments = key.split(".");
  let object: ObjectBranch = { kind: "object", fields: new Map([[segments.pop() ?? key, field]]) };
  for (let i = segments.length - 1; i >= 0; i--) {
    object = { kind: "object", fields: new Map([[segments[i] ?? "", object]]) };
  }
  return object;
}

function expandObject(pattern: Record<string, unknown>, path: string, conflicts: Set<string>): ObjectBranch[] {
  let branches: ObjectBranch[] = [{ kind: "object", fields: new Map() }];
  const extend = (options: ObjectBranch[]) => {
    branches = branches.flatMap((branch) => options.map((option) => merge(branch, option, path, conflicts)));
  };
  for (const [key, value] of Object.entries(pattern)) {
    if (key === "$or" && Array.isArray(value)) {
      extend(value.flatMap((option) => expandObject(option as Record<string, unknown>, path, conflicts)));
    } else if (Array.isArray(value)) {
      extend([single(key, leaf(value as MatchValue[]))]);
    } else {
      const nested = expandObject(value as Record<string, unknown>, join(path, key), conflicts);
      extend(nested.map((object) => single(key, object)));
    }
  }
  return branches;
}

export function expandPattern(pattern: Record<string, unknown>): Expansion {
  const conflicts = new Set<string>();
  const branches = expandObject(pattern, "", conflicts);
  return { branches, conflicts: [...conflicts] };
}
