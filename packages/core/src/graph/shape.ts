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
  return [
    ...(json.version === graphVersion
      ? []
      : [`version: expected ${graphVersion}, found ${JSON.stringify(json.version)}`]),
    ...text(json.app, "app"),
    ...objects(json.resources, "resources", (resource, at) => [
      ...oneOf(resource.kind, resourceKinds, `${at}.kind`),
      ...text(resource.name, `${at}.name`),
      ...(isObject(resource.spec) ? [] : [`${at}.spec: expected an object`]),
    ]),
    ...objects(json.edges, "edges", (edge, at) => [
      ...oneOf(edge.kind, edgeKinds, `${at}.kind`),
      ...text(edge.from, `${at}.from`),
      ...text(edge.to, `${at}.to`),
    ]),
  ];
}

const text = (value: unknown, at: string): string[] => (typeof value === "string" ? [] : [`${at}: expected a string`]);

const oneOf = (value: unknown, kinds: readonly string[], at: string): string[] =>
  kinds.includes(value as string) ? [] : [`${at}: expected one of ${kinds.join(", ")}`];

/** The issues of a list of objects at `at`, each checked by `each` under `<at>.<index>`. */
function objects(value: unknown, at: string, each: (item: Record<string, unknown>, at: string) => string[]): string[] {
  if (!Array.isArray(value)) return [`${at}: expected an array`];
  return value.flatMap((item, index) =>
    isObject(item) ? each(item, `${at}.${index}`) : [`${at}.${index}: expected an object`],
  );
}
