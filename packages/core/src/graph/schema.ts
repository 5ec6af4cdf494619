import { z } from "zod";
import { bucketSpecSchema } from "../bucket/spec.ts";
import { busSpecSchema } from "../bus/spec.ts";
import { functionSpecSchema } from "../function/spec.ts";
import { queueSpecSchema } from "../queue/spec.ts";
import { ruleSpecSchema } from "../rule/spec.ts";
import { scheduleSpecSchema } from "../schedule/spec.ts";
import { edgeKinds, graphVersion } from "./shape.ts";

export { type EdgeKind, edgeKinds, graphVersion } from "./shape.ts";

export const resourceSchema = z.discriminatedUnion("kind", [
  z.strictObject({ kind: z.literal("bucket"), name: z.string(), spec: bucketSpecSchema }),
  z.strictObject({ kind: z.literal("bus"), name: z.string(), spec: busSpecSchema }),
  z.strictObject({ kind: z.literal("function"), name: z.string(), spec: functionSpecSchema }),
  z.strictObject({ kind: z.literal("queue"), name: z.string(), spec: queueSpecSchema }),
  z.strictObject({ kind: z.literal("rule"), name: z.string(), spec: ruleSpecSchema }),
  z.strictObject({ kind: z.literal("schedule"), name: z.string(), spec: scheduleSpecSchema }),
]);
export type Resource = z.infer<typeof resourceSchema>;
export type ResourceOf<K extends Resource["kind"]> = Extract<Resource, { kind: K }>;

/** A typed edge between two resources, each named `<kind>:<name>`. */
export const edgeSchema = z.strictObject({
  kind: z.enum(edgeKinds),
  from: z.string(),
  to: z.string(),
});
export type Edge = z.infer<typeof edgeSchema>;

/**
 * The contract between an app and every target: plain JSON, every spec normalised
 * (durations in ms, sizes in bytes, defaults filled in), sorted so that the same app
 * gives byte-identical output.
 */
export const graphSchema = z.strictObject({
  version: z.literal(graphVersion),
  app: z.string(),
  resources: z.array(resourceSchema),
  edges: z.array(edgeSchema),
});
export type Graph = z.infer<typeof graphSchema>;
