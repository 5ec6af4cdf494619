/**
 * The graph's outline without zod: its version, the kinds of its resources and edges, and
 * a check of its shape. A deployed host reads its graph from the environment, written by
 * `nimbus synth` from a graph whose specs `validateGraph` checked at build; it checks the
 * outline only, so that zod (a fifth of a host's memory at rest) is never loaded there.
 */

export const graphVersion = 1;

export const resourceKinds = ["bucket", "bus", "function", "queue", "rule", "schedule"] as const;
export type ResourceKind = (typeof resourceKinds)[number];

/** A pointer from one resource's spec to another resource of the same app. */
export interface ResourceRef {
  kind: ResourceKind;
  name: string;
}

/** `queue:orders`: how edges name their ends. */
export function resourceId(ref: ResourceRef): string {
  return `${ref.kind}:${ref.name}`;
}

/** `queue "orders"`: how messages name a resource. */
export function describeResource(ref: ResourceRef): string {
  return `${ref.kind} "${ref.name}"`;
}

export const edgeKinds = [
  "dead-letter",
  "link",
  "notification",
  "rule-target",
  "schedule-target",
  "subscription",
] as const;
export type EdgeKind = (typeof edgeKinds)[number];

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * What keeps `json` from being a graph of this version, each as `<path>: <what>` (e.g.
 * `resources.2.kind: expected one of bucket, bus, …`); empty when it is one. Specs are
 * checked to be objects, not field by field.
 */
export function graphShapeIssues(json: unknown): string[] {
  if (!isObject(json)) return ["(top): expected an object"];
  const issues: string[] = [];
  if (json.version !== graphVersion)
    issues.push(`version: expected ${graphVersion}, found ${JSON.stringify(json.version)}`);
  if (typeof json.app !== "string") issues.push("app: expected a string");
  if (!Array.isArray(json.resources)) issues.push("resources: expected an array");
  else {
    for (const [index, resource] of json.resources.entries()) {
      const at = `resources.${index}`;
      if (!isObject(resource)) issues.push(`${at}: expected an object`);
      else {
        if (!resourceKinds.includes(resource.kind as ResourceKind))
          issues.push(`${at}.kind: expected one of ${resourceKinds.join(", ")}`);
        if (typeof resource.name !== "string") issues.push(`${at}.name: expected a string`);
        if (!isObject(resource.spec)) issues.push(`${at}.spec: expected an object`);
      }
    }
  }
  if (!Array.isArray(json.edges)) issues.push("edges: expected an array");
  else {
    for (const [index, edge] of json.edges.entries()) {
      const at = `edges.${index}`;
      if (!isObject(edge)) issues.push(`${at}: expected an object`);
      else {
        if (!edgeKinds.includes(edge.kind as EdgeKind))
          issues.push(`${at}.kind: expected one of ${edgeKinds.join(", ")}`);
        if (typeof edge.from !== "string") issues.push(`${at}.from: expected a string`);
        if (typeof edge.to !== "string") issues.push(`${at}.to: expected a string`);
      }
    }
  }
  return issues;
}
