import { NimbusError } from "../errors/nimbus-error.ts";
import type { PatternIssue } from "./types.ts";

export const PATTERN_INVALID = "NIMBUS_PATTERN_INVALID";

/** Thrown for an invalid event pattern, with every problem at once in `issues`. */
export class PatternError extends NimbusError {
  readonly issues: readonly PatternIssue[];

  /** `subject` names the pattern in the message, e.g. `Rule "orders" pattern`. */
  constructor(issues: readonly PatternIssue[], subject = "Event pattern") {
    const lines = issues.map((issue) => `  - ${issue.path === "" ? "(pattern)" : issue.path}: ${issue.message}`);
    super(
      PATTERN_INVALID,
      `${subject} has ${issues.length} problem${issues.length === 1 ? "" : "s"}:\n${lines.join("\n")}\n` +
        "Fix each field named above; the rules follow EventBridge's event-pattern syntax.",
    );
    this.name = "PatternError";
    this.issues = issues;
  }

  /** Checks by code and shape rather than `instanceof`, since two copies of core can be loaded. */
  static isPatternError(value: unknown): value is PatternError {
    return NimbusError.is(value) && value.code === PATTERN_INVALID && Array.isArray((value as PatternError).issues);
  }
}
