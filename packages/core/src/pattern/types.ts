/**
 * The EventBridge event-pattern language as TypeScript types. A pattern has the shape
 * of the events it matches: every leaf is a list of allowed values or match expressions.
 */

/** A comparison operator inside `numeric`. */
export type NumericOperator = "=" | "<" | "<=" | ">" | ">=";

/** Strings that `anything-but` can also take through one of its string operators. */
type OneOrMore<T> = T | readonly T[];

/** A match expression: one operator applied to a field's value(s). */
export type MatchExpression =
  | { readonly prefix: string | { readonly "equals-ignore-case": string } }
  | { readonly suffix: string | { readonly "equals-ignore-case": string } }
  | { readonly "equals-ignore-case": string }
  | { readonly wildcard: string }
  | { readonly cidr: string }
  | { readonly exists: boolean }
  | { readonly numeric: readonly (NumericOperator | number)[] }
  | {
      readonly "anything-but":
        | string
        | number
        | readonly string[]
        | readonly number[]
        | { readonly prefix: OneOrMore<string> }
        | { readonly suffix: OneOrMore<string> }
        | { readonly wildcard: OneOrMore<string> }
        | { readonly "equals-ignore-case": OneOrMore<string> };
    };

/** One allowed entry in a field's list: an exact JSON value or a match expression. */
export type MatchValue = string | number | boolean | null | MatchExpression;

/** What a pattern field holds: a list of allowed values, a nested pattern, or (for `$or`) a list of patterns. */
export type FieldPattern = readonly MatchValue[] | EventPattern | readonly EventPattern[];

/**
 * An event pattern, e.g. `{ "source": ["orders"], "detail": { "total": [{ "numeric": [">", 0] }] } }`.
 * Fields are ANDed, the values in a field's list are ORed, and `$or` takes a list of sub-patterns.
 * A key with dots is a path, as in AWS: `{ "detail.total": [5] }` is `{ "detail": { "total": [5] } }`,
 * and either matches an event spelling the field either way.
 */
export interface EventPattern {
  readonly [field: string]: FieldPattern;
}

/** One problem in a pattern: where it is (`detail.total[0].numeric`) and what is wrong. */
export interface PatternIssue {
  /** Path inside the pattern; empty for the pattern as a whole. */
  path: string;
  message: string;
}

/**
 * Why a pattern does or does not match an event. On a mismatch, `path` is the event field that failed
 * (`detail.total`), `operator` the operator that rejected it (`numeric`), `reason` why (`0 is not > 0`).
 */
export type MatchExplanation = { matched: true } | { matched: false; path: string; operator: string; reason: string };

/** A named pattern, as given to `compileRules`. */
export interface PatternRule {
  name: string;
  pattern: EventPattern;
}

/** Rules compiled into an index; see `compileRules`. */
export interface CompiledRules {
  /** How many rules were compiled. */
  readonly size: number;
  /** The names of the rules matching `event`, in the order the rules were given. */
  match(event: unknown): string[];
}
