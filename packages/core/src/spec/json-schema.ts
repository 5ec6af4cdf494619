import { z } from "zod";
import type { BuildContext } from "../app/construct.ts";

/**
 * The JSON Schema of an author's zod schema, so the graph stays plain data and every
 * target can check message bodies without the author's code.
 */
export function toJsonSchema(schema: unknown, field: string, ctx: BuildContext): Record<string, unknown> | null {
  // Not `instanceof`: the author's app may load another copy of zod.
  if (typeof schema !== "object" || schema === null || !("_zod" in schema)) {
    ctx.issue("NIMBUS_SCHEMA_INVALID", field, "expected a zod schema, e.g. z.object({ id: z.string() })");
    return null;
  }
  try {
    return z.toJSONSchema(schema as z.ZodType, { target: "draft-2020-12", unrepresentable: "throw" }) as Record<
      string,
      unknown
    >;
  } catch (error) {
    ctx.issue(
      "NIMBUS_SCHEMA_UNREPRESENTABLE",
      field,
      `expected a zod schema that JSON Schema can express (no transforms, functions, dates or custom checks); ${(error as Error).message}`,
    );
    return null;
  }
}
