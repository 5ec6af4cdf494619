import type { ErrorCode } from "./codes.ts";
import { NimbusError } from "./nimbus-error.ts";

/** One problem found while building or loading a graph. */
export interface GraphIssue {
  /** `NIMBUS_<AREA>_<WHAT>`, e.g. `NIMBUS_QUEUE_TWO_CONSUMERS`; marked `graph` in `errors/codes.ts`. */
  code: ErrorCode;
  /** The resource it concerns, as `<kind> "<name>"`, e.g. `queue "orders"`, or `app` for the app itself. */
  resource: string;
  /** The prop path inside that resource, e.g. `delivery.backoff.max`; empty when it is the whole resource. */
  field: string;
  /** What was expected, what was found, and how to fix it. */
  message: string;
}

/** Thrown by `app.toGraph()` and the loaders: every problem at once, never only the first. */
export class GraphError extends NimbusError {
  readonly issues: readonly GraphIssue[];

  constructor(app: string, issues: readonly GraphIssue[]) {
    const lines = issues.map((issue) => `  - ${formatIssue(issue)}`);
    super(
      "NIMBUS_GRAPH_INVALID",
      `App "${app}" has ${issues.length} problem${issues.length === 1 ? "" : "s"}:\n${lines.join("\n")}`,
    );
    this.name = "GraphError";
    this.issues = issues;
  }

  static isGraphError(value: unknown): value is GraphError {
    return (
      NimbusError.is(value) && value.code === "NIMBUS_GRAPH_INVALID" && Array.isArray((value as GraphError).issues)
    );
  }
}

export function formatIssue(issue: GraphIssue): string {
  const where = issue.field ? `${issue.resource}, ${issue.field}` : issue.resource;
  return `${where}: ${issue.message} [${issue.code}]`;
}
