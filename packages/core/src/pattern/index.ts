/** The EventBridge event-pattern language: validation, matching, explanations and a rule index. */
export { type NimbusEvent, type PutEntry, type ToEventOptions, toEvent } from "./event.ts";
export { explain } from "./explain.ts";
export { MAX_OR_COMBINATIONS, MAX_PATTERN_LENGTH, MAX_WILDCARDS, NUMERIC_LIMIT } from "./limits.ts";
export { matchesPattern } from "./match.ts";
export { PatternError } from "./pattern-error.ts";
export { compileRules } from "./rules.ts";
export type {
  CompiledRules,
  EventPattern,
  FieldPattern,
  MatchExplanation,
  MatchExpression,
  MatchValue,
  NumericOperator,
  PatternIssue,
  PatternRule,
} from "./types.ts";
export { patternProblems, validatePattern } from "./validate.ts";
