import { type LeafField, leafHolds } from "./branch.ts";
import { fixedPoint, isComparable } from "./numbers.ts";
import { type Projection, SEVERAL } from "./projection.ts";
import { hasLeaf } from "./values.ts";

/**
 * The leaf checks of all indexed branches, packed into parallel arrays in branch order, with the
 * common checks (one string, a numeric range, a prefix, …) as plain data. Checking a candidate then
 * reads a few neighbouring array slots instead of following a chain of closures across the heap,
 * which is what limits matching speed once there are thousands of rules.
 */

/** A leaf check of a branch: which slot it reads and what must hold there. */
export interface SlotLeaf {
  slot: number;
  field: LeafField;
}

export interface PackedBranch {
  rule: number;
  /** The whole branch, for events where an array lies on the way to one of its fields. */
  test: (event: unknown) => boolean;
  /** The branch's checks other than the fields its table looked up. */
  rest: readonly SlotLeaf[];
}

// Kinds of check. GENERIC calls the field's own test; the others decide plain values inline and
// fall back to GENERIC only for arrays.
const GENERIC = 0;
const TEXT = 1;
const RANGE = 2;
const PREFIX = 3;
const NOT_TEXT = 4;
const PRESENT = 5;
const ABSENT = 6;

const LOW_OPEN = 1;
const HIGH_OPEN = 2;

export class CheckProgram {
  /** Per branch: its rule, its full test, and where its checks start (`start[b]..start[b + 1]`). */
  readonly rule: Int32Array;
  readonly tests: readonly ((event: unknown) => boolean)[];
  readonly start: Int32Array;
  /** Per check. */
  readonly slot: Int32Array;
  readonly kind: Uint8Array;
  readonly text: (string | undefined)[];
  readonly low: Float64Array;
  readonly high: Float64Array;
  readonly open: Uint8Array;
  readonly field: LeafField[];

  constructor(branches: readonly PackedBranch[]) {
    const checks = branches.reduce((sum, branch) => sum + branch.rest.length, 0);
    this.rule = Int32Array.from(branches, (branch) => branch.rule);
    this.tests = branches.map((branch) => branch.test);
    this.start = new Int32Array(branches.length + 1);
    this.slot = new Int32Array(checks);
    this.kind = new Uint8Array(checks);
    this.text = new Array(checks).fill(undefined);
    this.low = new Float64Array(checks);
    this.high = new Float64Array(checks);
    this.open = new Uint8Array(checks);
    this.field = [];
    let at = 0;
    branches.forEach((branch, index) => {
      this.start[index] = at;
      for (const leaf of branch.rest) this.#add(at++, leaf);
    });
    this.start[branches.length] = at;
  }

  #add(at: number, { slot, field }: SlotLeaf): void {
    this.slot[at] = slot;
    this.field[at] = field;
    const [test] = field.tests;
    if (field.polarity === "negative") {
      this.kind[at] = ABSENT;
      return;
    }
    if (field.polarity === "mixed" || field.tests.length !== 1 || test === undefined) {
      this.kind[at] = GENERIC;
      return;
    }
    const [value] = test.exact ?? [];
    if (test.exact?.length === 1 && typeof value === "string") {
      this.kind[at] = TEXT;
      this.text[at] = value;
    } else if (test.range) {
      this.kind[at] = RANGE;
      this.low[at] = test.range.low;
      this.high[at] = test.range.high;
      this.open[at] = (test.range.lowOpen ? LOW_OPEN : 0) | (test.range.highOpen ? HIGH_OPEN : 0);
    } else if (test.prefix !== undefined) {
      this.kind[at] = PREFIX;
      this.text[at] = test.prefix;
    } else if (test.excluded !== undefined) {
      this.kind[at] = NOT_TEXT;
      this.text[at] = test.excluded;
    } else {
      this.kind[at] = test.operator === "exists" ? PRESENT : GENERIC;
    }
  }

  #inRange(at: number, value: number): boolean {
    if (!isComparable(value)) return false;
    const fixed = fixedPoint(value);
    const open = this.open[at] ?? 0;
    const low = this.low[at] ?? 0;
    const high = this.high[at] ?? 0;
    return (open & LOW_OPEN ? fixed > low : fixed >= low) && (open & HIGH_OPEN ? fixed < high : fixed <= high);
  }

  /**
   * Whether branch `branch`'s checks hold for the plain values in `projection`; `undefined` when an
   * array lies on the way to one of them, so the caller must run the full test.
   */
  restHolds(branch: number, projection: Projection): boolean | undefined {
    const end = this.start[branch + 1] ?? 0;
    for (let at = this.start[branch] ?? 0; at < end; at++) {
      const content = projection.get(this.slot[at] ?? 0);
      if (content === SEVERAL) return undefined;
      switch (this.kind[at]) {
        case TEXT:
          if (content === this.text[at]) continue;
          if (typeof content === "string") return false;
          break;
        case RANGE:
          if (typeof content === "number") {
            if (!this.#inRange(at, content)) return false;
            continue;
          }
          break;
        case PREFIX:
          if (typeof content === "string") {
            if (!content.startsWith(this.text[at] ?? "")) return false;
            continue;
          }
          break;
        case NOT_TEXT:
          if (typeof content === "string") {
            if (content === this.text[at]) return false;
            continue;
          }
          break;
        case PRESENT:
          if (!hasLeaf(content)) return false;
          continue;
        case ABSENT:
          if (hasLeaf(content)) return false;
          continue;
      }
      if (!leafHolds(this.field[at] as LeafField, content)) return false;
    }
    return true;
  }
}
