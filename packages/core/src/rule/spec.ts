import { z } from "zod";
import { props } from "../spec/fields.ts";
import { resourceRefSchema } from "../spec/ref.ts";

export const ruleSpecSchema = z.strictObject({
  bus: z.string(),
  /** An EventBridge event pattern. */
  pattern: z.record(z.string(), z.unknown()),
  targets: z.array(resourceRefSchema).min(1),
  description: z.string(),
});
export type RuleSpec = z.infer<typeof ruleSpecSchema>;

export const rulePropsSchema = props({
  pattern: z.unknown().optional(),
  targets: z.unknown().optional(),
  description: z
    .string()
    .optional()
    .transform((value) => value ?? ""),
});
