import type { BranchNode } from "./branch.ts";
import { CheckProgram, type PackedBranch, type SlotLeaf } from "./checks.ts";
import { fixedPoint, isComparable } from "./numbers.ts";
import { leavesAt, type Projection, SEVERAL } from "./projection.ts";

/**
 * The tables of the rule index and their lookups. An exact table maps the values of one or two
 * fields, through nested maps, to buckets of branches; a prefix table maps prefixes of one field.
 * A bucket lists branches by id into the `CheckProgram` that holds their remaining checks.
 */

/** Up to this many distinct prefixes, a value is compared with each instead of sliced and looked up. */
const FEW_PREFIXES = 16;

/**
 * Values as map keys. Strings, booleans and null are their own keys (a Map keeps `"true"` and `true`
 * apart); numbers use the fixed-point form `equals` compares, so 300 and 3e2 meet. Numbers beyond
 * ±5e9 have no fixed-point form and are left out of the index: their rules are checked in full.
 */
export type IndexKey = string | number | boolean | null;

/** A field a branch requires one of some values (or prefixes) for: a candidate for the index. */
export interface KeyField {
  segments: readonly string[];
  id: string;
  keys: readonly IndexKey[];
}

/** Branches as ids into the `CheckProgram`, numbered so that a bucket's data sits together. */
export type Bucket = Int32Array;

/** Nested maps, one level per field of the table; the last level holds the bucket. */
export type Level = Map<IndexKey, Level | Bucket>;

/** Branches looked up by the values of one or two fields, read from these projection slots. */
export interface ExactTable {
  slots: readonly number[];
  root: Level;
}

/** Branches looked up by a prefix of the field in this projection slot. */
export interface PrefixTable {
  slot: number;
  byPrefix: Map<string, Bucket>;
  /** The distinct prefix lengths, so a value needs one lookup per length. */
  lengths: readonly number[];
  /** All of `byPrefix` while there are few prefixes. */
  few: readonly [string, Bucket][] | undefined;
}

/** The key a leaf value is filed under, or undefined when it cannot be looked up. */
export function indexKey(value: unknown): IndexKey | undefined {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      return isComparable(value) ? fixedPoint(value) : undefined;
    default:
      return value === null ? null : undefined;
  }
}

/** The rules matched so far for one event; `seen` is reset after each event. */
export class Hits {
  readonly rules: number[] = [];
  readonly seen: Uint8Array;
  readonly program: CheckProgram;
  readonly projection: Projection;

  constructor(ruleCount: number, program: CheckProgram, projection: Projection) {
    this.seen = new Uint8Array(ruleCount);
    this.program = program;
    this.projection = projection;
  }

  /** Checks a bucket's branches; `plain` says the lookup read plain values, so their rest suffices. */
  tryAll(bucket: Bucket, plain: boolean): void {
    const { program, projection, seen } = this;
    for (const branch of bucket) {
      const rule = program.rule[branch] ?? 0;
      if (seen[rule] !== 0) continue;
      const holds = plain
        ? (program.restHolds(branch, projection) ?? program.tests[branch]?.(projection.event()))
        : program.tests[branch]?.(projection.event());
      if (holds) {
        seen[rule] = 1;
        this.rules.push(rule);
      }
    }
  }

  /** The matched rules' names in rule order; resets for the next event. */
  take(names: readonly string[]): string[] {
    const matched = this.rules;
    if (matched.length === 0) return [];
    if (matched.length > 1) matched.sort((a, b) => a - b);
    const result = matched.map((rule) => names[rule] ?? "");
    for (const rule of matched) this.seen[rule] = 0;
    matched.length = 0;
    return result;
  }
}

/** Checks the branches an exact table files under the event's values. */
export function probeExact(table: ExactTable, hits: Hits): void {
  // The common case: one plain value per field, no arrays on the way.
  let level: Level | Bucket | undefined = table.root;
  for (const slot of table.slots) {
    const value = hits.projection.get(slot);
    if (value === SEVERAL) {
      probeExactAll(table, hits);
      return;
    }
    const key = indexKey(value);
    if (key === undefined) return;
    level = (level as Level).get(key);
    if (level === undefined) return;
  }
  hits.tryAll(level as Bucket, true);
}

function probeExactAll(table: ExactTable, hits: Hits): void {
  const event = hits.projection.event();
  const keysPerField = table.slots.map((slot) => {
    const keys = new Set<IndexKey>();
    for (const leaf of leavesAt(event, hits.projection.paths[slot] ?? [])) {
      const key = indexKey(leaf);
      if (key !== undefined) keys.add(key);
    }
    return keys;
  });
  const descend = (level: Level, depth: number): void => {
    for (const key of keysPerField[depth] ?? []) {
      const next = level.get(key);
      if (next === undefined) continue;
      if (depth === keysPerField.length - 1) hits.tryAll(next as Bucket, false);
      else descend(next as Level, depth + 1);
    }
  };
  descend(table.root, 0);
}

function probePrefixValue(table: PrefixTable, text: unknown, hits: Hits, plain: boolean): void {
  if (typeof text !== "string") return;
  if (table.few) {
    for (const [prefix, bucket] of table.few) {
      if (text.startsWith(prefix)) hits.tryAll(bucket, plain);
    }
    return;
  }
  for (const length of table.lengths) {
    if (length > text.length) break;
    const bucket = table.byPrefix.get(text.slice(0, length));
    if (bucket) hits.tryAll(bucket, plain);
  }
}

/** Checks the branches a prefix table files under prefixes of the event's value(s). */
export function probePrefix(table: PrefixTable, hits: Hits): void {
  const value = hits.projection.get(table.slot);
  if (value !== SEVERAL) {
    probePrefixValue(table, value, hits, true);
    return;
  }
  for (const text of leavesAt(hits.projection.event(), hits.projection.paths[table.slot] ?? [])) {
    probePrefixValue(table, text, hits, false);
  }
}

/** A branch of a rule while the index is built, with the fields it could be looked up by. */
export interface Candidate {
  rule: number;
  test: (event: unknown) => boolean;
  node: BranchNode;
  exact: KeyField[];
  prefix: KeyField[];
  rest: SlotLeaf[];
}

/** Tables whose buckets still hold candidate positions; `finish` turns them into branch ids. */
export class IndexBuilder {
  readonly exact = new Map<string, { slots: number[]; root: Map<IndexKey, unknown> }>();
  readonly prefix = new Map<string, { slot: number; byPrefix: Map<string, number[]> }>();
  readonly unindexed: number[] = [];

  addExact(fields: readonly KeyField[], slots: number[], candidate: number): void {
    const id = fields.map((field) => field.id).join("\u0000");
    let table = this.exact.get(id);
    if (table === undefined) {
      table = { slots, root: new Map() };
      this.exact.set(id, table);
    }
    const insert = (level: Map<IndexKey, unknown>, depth: number): void => {
      const field = fields[depth];
      if (field === undefined) return;
      for (const key of field.keys) {
        const next = level.get(key);
        if (depth === fields.length - 1) {
          if (next === undefined) level.set(key, [candidate]);
          else (next as number[]).push(candidate);
        } else if (next === undefined) {
          const created = new Map<IndexKey, unknown>();
          level.set(key, created);
          insert(created, depth + 1);
        } else {
          insert(next as Map<IndexKey, unknown>, depth + 1);
        }
      }
    };
    insert(table.root, 0);
  }

  addPrefix(field: KeyField, slot: number, candidate: number): void {
    let table = this.prefix.get(field.id);
    if (table === undefined) {
      table = { slot, byPrefix: new Map() };
      this.prefix.set(field.id, table);
    }
    for (const key of field.keys as string[]) {
      const bucket = table.byPrefix.get(key);
      if (bucket) bucket.push(candidate);
      else table.byPrefix.set(key, [candidate]);
    }
  }

  /**
   * Numbers the candidates bucket by bucket, so the checks of one bucket sit side by side in the
   * `CheckProgram`, and builds the final tables.
   */
  finish(candidates: readonly Candidate[]) {
    const ids = new Int32Array(candidates.length).fill(-1);
    const order: number[] = [];
    const number = (positions: readonly number[]): Bucket =>
      Int32Array.from(positions, (position) => {
        if (ids[position] === -1) {
          ids[position] = order.length;
          order.push(position);
        }
        return ids[position] ?? 0;
      });
    const finishLevel = (level: Map<IndexKey, unknown>, depth: number): Level =>
      new Map(
        [...level].map(([key, next]) => [
          key,
          depth === 0 ? number(next as number[]) : finishLevel(next as Map<IndexKey, unknown>, depth - 1),
        ]),
      );
    const exact: ExactTable[] = [...this.exact.values()].map((table) => ({
      slots: table.slots,
      root: finishLevel(table.root, table.slots.length - 1),
    }));
    const prefix: PrefixTable[] = [...this.prefix.values()].map((table) => {
      const byPrefix = new Map([...table.byPrefix].map(([key, positions]) => [key, number(positions)] as const));
      const lengths = [...new Set([...byPrefix.keys()].map((key) => key.length))].sort((a, b) => a - b);
      return { slot: table.slot, byPrefix, lengths, few: byPrefix.size <= FEW_PREFIXES ? [...byPrefix] : undefined };
    });
    const unindexed = number(this.unindexed);
    const program = new CheckProgram(
      order.map((position): PackedBranch => {
        const { rule, test, rest } = candidates[position] as Candidate;
        return { rule, test, rest };
      }),
    );
    return { exact, prefix, unindexed, program };
  }
}
