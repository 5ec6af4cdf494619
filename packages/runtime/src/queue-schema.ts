import { NimbusError } from "@nimbus/core";
import { z } from "zod";

/** Throws `NIMBUS_QUEUE_SCHEMA` when message `index`'s JSON body does not match the queue's schema. */
export type BodyCheck = (body: Uint8Array, index: number) => void;

/**
 * A check of message bodies against the JSON Schema a queue's `schema` was stored as,
 * or undefined for a queue without one. Bodies sent as bytes are not checked. One check
 * for every target: the emulator's queue plugin and the deployed host's driver both
 * refuse a send with it, so the message is the same everywhere.
 */
export function bodyCheck(queue: string, schema: Record<string, unknown> | null): BodyCheck | undefined {
  if (!schema) return undefined;
  const parser = z.fromJSONSchema(schema as Parameters<typeof z.fromJSONSchema>[0]);
  const decoder = new TextDecoder();
  return (body, index) => {
    const result = parser.safeParse(JSON.parse(decoder.decode(body)));
    if (result.success) return;
    const problems = result.error.issues.map((issue) => `${issue.path.join(".") || "the body"}: ${issue.message}`);
    throw new NimbusError(
      "NIMBUS_QUEUE_SCHEMA",
      `queue "${queue}": message ${index + 1} does not match the queue's schema (${problems.join("; ")}). Fix the body, or the schema in the app file.`,
    );
  };
}
