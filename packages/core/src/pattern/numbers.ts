import { NUMERIC_LIMIT } from "./limits.ts";

/**
 * EventBridge compares numbers as fixed-point values with six decimal places over ±5e9, so
 * `300`, `3e2` and `300.0000001` are the same number to it. These helpers reproduce that.
 */

const SCALE = 1e6;

/** Whether `value` can take part in a numeric comparison at all. */
export function isComparable(value: number): boolean {
  return value >= -NUMERIC_LIMIT && value <= NUMERIC_LIMIT;
}

/**
 * The fixed-point form of a comparable number: an integer that orders like the number, cut to six
 * decimals. Computed in doubles exactly as EventBridge's engine does, so rounding agrees with it.
 */
export function fixedPoint(value: number): number {
  return Math.trunc(SCALE * (NUMERIC_LIMIT + value));
}

/**
 * A key under which equal numbers meet: comparable numbers by their fixed-point form, the rest
 * (account ids, timestamps in ms) by their exact value. The prefixes keep the two kinds apart.
 */
export function numberKey(value: number): string {
  return isComparable(value) ? `n${fixedPoint(value)}` : `N${value}`;
}
