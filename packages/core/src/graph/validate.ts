import { GraphError, type GraphIssue } from "../errors/graph-error.ts";
import { fromZodIssues } from "../spec/zod-issues.ts";
import { graphProblems } from "./checks.ts";
import { compareEdges, edgesOfAll } from "./edges.ts";
import { type Graph, graphSchema } from "./schema.ts";

/**
 * Reads a graph from untrusted JSON (a file, a request) and returns it only when it is
 * well formed and consistent; otherwise throws one `GraphError` with every problem.
 */
export function validateGraph(input: unknown): Graph {
  const parsed = graphSchema.safeParse(input, { reportInput: true });
  const app = typeof input === "object" && input !== null && "app" in input ? String(input.app) : "?";
  if (!parsed.success) {
    const issues = parsed.error.issues.map((issue) => {
      const [section, index, ...rest] = issue.path;
      const resource =
        section === "resources" && typeof index === "number"
          ? describeAt((input as { resources: unknown[] }).resources[index])
          : `app "${app}"`;
      // Inside a resource, fields are named as in its spec: `visibilityTimeout`, not `spec.visibilityTimeout`.
      const inSpec = rest[0] === "spec" ? rest.slice(1) : rest;
      const field = section === "resources" ? inSpec.map(String).join(".") : issue.path.map(String).join(".");
      return fromZodIssues([{ ...issue, path: [] }], { code: "NIMBUS_GRAPH_SCHEMA", resource, prefix: field })[0]!;
    });
    throw new GraphError(app, issues);
  }
  const graph = parsed.data;
  const issues: GraphIssue[] = graphProblems(graph.app, graph.resources);
  const derived = edgesOfAll(graph.resources);
  const given = [...graph.edges].sort(compareEdges);
  if (JSON.stringify(derived) !== JSON.stringify(given)) {
    issues.push({
      code: "NIMBUS_GRAPH_EDGES",
      resource: `app "${graph.app}"`,
      field: "edges",
      message:
        "expected the edges the resources' specs imply; the file's edges differ. Regenerate it with `nimbus graph` instead of editing it by hand",
    });
  }
  if (issues.length > 0) throw new GraphError(graph.app, issues);
  return graph;
}

function describeAt(resource: unknown): string {
  if (typeof resource !== "object" || resource === null) return "resource ?";
  const { kind, name } = resource as { kind?: unknown; name?: unknown };
  return `${String(kind ?? "resource")} "${String(name ?? "?")}"`;
}

/** The canonical text of a graph: the same app always gives the same bytes. */
export function serializeGraph(graph: Graph): string {
  return `${JSON.stringify(graph, null, 2)}\n`;
}
