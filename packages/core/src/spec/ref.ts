import { z } from "zod";

export const resourceKinds = ["bucket", "bus", "function", "queue", "rule", "schedule"] as const;
export type ResourceKind = (typeof resourceKinds)[number];

/** A pointer from one resource's spec to another resource of the same app. */
export const resourceRefSchema = z.strictObject({
  kind: z.enum(resourceKinds),
  name: z.string(),
});
export type ResourceRef = z.infer<typeof resourceRefSchema>;

/** `queue:orders`: how edges name their ends. */
export function resourceId(ref: ResourceRef): string {
  return `${ref.kind}:${ref.name}`;
}

/** `queue "orders"`: how messages name a resource. */
export function describeResource(ref: ResourceRef): string {
  return `${ref.kind} "${ref.name}"`;
}
