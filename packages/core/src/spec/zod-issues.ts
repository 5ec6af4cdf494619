import type { z } from "zod";
import type { ErrorCode } from "../errors/codes.ts";
import type { GraphIssue } from "../errors/graph-error.ts";

/**
 * Turns zod's issues into graph issues: a field path and a sentence each. A raw
 * ZodError never reaches an author.
 */
export function fromZodIssues(
  issues: readonly z.core.$ZodIssue[],
  where: { code: ErrorCode; resource: string; prefix?: string },
): GraphIssue[] {
  return issues.flatMap((issue) => {
    const path = [where.prefix, ...issue.path.map(String)].filter((part) => part !== undefined && part !== "");
    // One unknown key is reported on its own path; `props()` wrote the sentence with a suggestion.
    if (issue.code === "unrecognized_keys" && issue.keys.length === 1) path.push(issue.keys[0]!);
    return [{ code: where.code, resource: where.resource, field: path.join("."), message: sentence(issue) }];
  });
}

function sentence(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case "invalid_type":
      return `expected ${article(issue.expected)}; found ${describe(issue.input)}`;
    case "invalid_value":
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}; found ${describe(issue.input)}`;
    case "too_small":
      return `expected at least ${String(issue.minimum)} ${issue.origin === "array" ? "items" : issue.origin === "string" ? "characters" : ""}`.trimEnd();
    case "too_big":
      return `expected at most ${String(issue.maximum)} ${issue.origin === "array" ? "items" : issue.origin === "string" ? "characters" : ""}`.trimEnd();
    default:
      return issue.message;
  }
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return `"${value}"`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}
