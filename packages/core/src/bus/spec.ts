import { z } from "zod";
import { jsonSchemaSchema } from "../queue/spec.ts";
import { props } from "../spec/fields.ts";

export const busSpecSchema = z.strictObject({
  /** Per detail-type, the JSON Schema of `detail`; null when the bus takes any event. */
  schema: z.record(z.string(), jsonSchemaSchema).nullable(),
});
export type BusSpec = z.infer<typeof busSpecSchema>;

export const busPropsSchema = props({
  // Checked by the construct: it holds zod schemas.
  schema: z.unknown().optional(),
});
