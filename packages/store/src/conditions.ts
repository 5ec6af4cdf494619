// The store answers conditional requests exactly as every binding evaluates them: one
// evaluator, in runtime (RFC 9110 §13.2.2: an ETag condition decides over its date pair).
import type { BucketConditions } from "@nimbus/runtime";
import type { ConditionOutcome } from "@nimbus/runtime/target";

export { checkConditions, unquoteEtag } from "@nimbus/runtime/target";

/** Conditional reads and writes: If-Match, If-None-Match, If-Unmodified-Since, If-Modified-Since. */
export type Conditions = BucketConditions;

/**
 * `ok`; `precondition` (HTTP 412: If-Match or If-Unmodified-Since failed); or
 * `not-modified` (HTTP 304 for reads: If-None-Match or If-Modified-Since failed).
 */
export type ConditionResult = ConditionOutcome;
