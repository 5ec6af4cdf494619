import { otherSpellings } from "./dotted-keys.ts";
import { fieldValue } from "./values.ts";

/**
 * An event's values at the field paths the rules read, each read once per event and shared by all
 * the rules that check it: with thousands of rules, walking the event again for each would cost
 * more than the checks themselves.
 */

/** Marks a value reached through an array, which may stand for several values. */
export const SEVERAL = Symbol("several");

/** The one value at `segments`, `SEVERAL` when an array lies on the way, or undefined. */
export function valueAt(event: unknown, segments: readonly string[]): unknown {
  let current = event;
  for (const segment of segments) {
    if (Array.isArray(current)) return SEVERAL;
    current = fieldValue(current, segment);
    if (current === undefined) return undefined;
  }
  return Array.isArray(current) ? SEVERAL : current;
}

/** Every leaf at `segments` in `value`, reading through arrays at any level. */
export function leavesAt(value: unknown, segments: readonly string[], depth = 0, into: unknown[] = []): unknown[] {
  if (Array.isArray(value)) {
    for (const element of value) leavesAt(element, segments, depth, into);
  } else if (depth === segments.length) {
    if (value !== undefined) into.push(value);
  } else {
    leavesAt(fieldValue(value, segments[depth] ?? ""), segments, depth + 1, into);
  }
  return into;
}

/**
 * Numbered field paths ("slots") and, for the current event, their values, read on first use.
 *
 * An event may spell a path with dots (`{ "detail.total": 5 }`, see dotted-keys.ts). Giving every
 * event its nested shape up front would cost more than matching it, so a slot also probes its
 * path's other spellings (one missed property read for a path of two segments) and, when one holds
 * something, reads as `SEVERAL`: the caller then runs the full test on `event()`, the event in its
 * nested shape, which is built only then.
 */
export class Projection {
  readonly paths: (readonly string[])[] = [];
  readonly #ids = new Map<string, number>();
  readonly #others: (readonly (readonly string[])[])[] = [];
  #values: unknown[] = [];
  #stamps = new Uint32Array(0);
  #stamp = 0;
  #event: unknown;
  #read: ((event: unknown) => unknown) | undefined;
  #nested: unknown;
  #hasNested = false;

  /** The slot of a path, numbering new paths as they come. */
  slot(segments: readonly string[]): number {
    const id = JSON.stringify(segments);
    let slot = this.#ids.get(id);
    if (slot === undefined) {
      slot = this.paths.length;
      this.paths.push(segments);
      this.#others.push(otherSpellings(segments));
      this.#ids.set(id, slot);
    }
    return slot;
  }

  /** Makes slots see dotted keys, `read` giving an event its nested shape; without it, keys are taken literally. */
  readDottedKeys(read: ((event: unknown) => unknown) | undefined): void {
    this.#read = read;
  }

  /** The current event in its nested shape, for full tests; built on first use. */
  event(): unknown {
    if (this.#read === undefined) return this.#event;
    if (!this.#hasNested) {
      this.#nested = this.#read(this.#event);
      this.#hasNested = true;
    }
    return this.#nested;
  }

  /** Starts reading `event`; values read for the previous event are stale from here on. */
  reset(event: unknown): void {
    if (this.#stamps.length !== this.paths.length) {
      this.#stamps = new Uint32Array(this.paths.length);
      this.#values = new Array(this.paths.length);
    }
    this.#event = event;
    this.#nested = undefined;
    this.#hasNested = false;
    this.#stamp = (this.#stamp + 1) >>> 0;
    if (this.#stamp === 0) {
      this.#stamps.fill(0);
      this.#stamp = 1;
    }
  }

  /** The current event's value at `slot`, or `SEVERAL` (an array on the way, or another spelling holds a value). */
  get(slot: number): unknown {
    if (this.#stamps[slot] === this.#stamp) return this.#values[slot];
    let value = valueAt(this.#event, this.paths[slot] ?? []);
    if (this.#read !== undefined && value !== SEVERAL) {
      for (const other of this.#others[slot] ?? []) {
        if (valueAt(this.#event, other) !== undefined) {
          value = SEVERAL;
          break;
        }
      }
    }
    this.#values[slot] = value;
    this.#stamps[slot] = this.#stamp;
    return value;
  }
}
