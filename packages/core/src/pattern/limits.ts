/**
 * EventBridge's limits on event patterns, enforced the same way on every target so a pattern that
 * works on the laptop is accepted in production.
 */

/** Longest pattern, in characters of compact JSON (EventBridge's maximum, after a quota raise from 2048). */
export const MAX_PATTERN_LENGTH = 4096;

/** Most branches `$or` may expand a pattern into (EventBridge rejects more than 1000 combinations). */
export const MAX_OR_COMBINATIONS = 1000;

/** `numeric` bounds and operands must lie within ±5e9 (EventBridge compares numbers as fixed-point). */
export const NUMERIC_LIMIT = 5e9;

/**
 * Most `*` in one wildcard. EventBridge rejects "too complex" wildcards without publishing its formula;
 * a value with six wildcards is rejected there, so we stop at five.
 */
export const MAX_WILDCARDS = 5;

/** The operators a match expression may use. */
export const OPERATORS = [
  "prefix",
  "suffix",
  "equals-ignore-case",
  "anything-but",
  "numeric",
  "exists",
  "cidr",
  "wildcard",
] as const;

export type Operator = (typeof OPERATORS)[number];
