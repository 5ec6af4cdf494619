import type { ResourceKind } from "../spec/ref.ts";
import type { EmulatorErrorCode } from "./codes.ts";
import { NimbusError } from "./nimbus-error.ts";

/** The resource kinds a name can be looked up by, and the code of a name that is not there. */
const unknownCodes = {
  bucket: "NIMBUS_EMULATOR_UNKNOWN_BUCKET",
  bus: "NIMBUS_EMULATOR_UNKNOWN_BUS",
  function: "NIMBUS_EMULATOR_UNKNOWN_FUNCTION",
  queue: "NIMBUS_EMULATOR_UNKNOWN_QUEUE",
  schedule: "NIMBUS_EMULATOR_UNKNOWN_SCHEDULE",
} as const satisfies Partial<Record<ResourceKind, EmulatorErrorCode>>;

const plural: Record<keyof typeof unknownCodes, string> = {
  bucket: "buckets",
  bus: "buses",
  function: "functions",
  queue: "queues",
  schedule: "schedules",
};

/**
 * The error for a name the app does not declare, listing the names it does:
 * `App "shop" has no queue "nope" (its queues: "jobs", "jobs-dlq").`
 * Without `app`, the sentence starts "The app".
 */
export function unknownResource(
  kind: keyof typeof unknownCodes,
  name: string,
  known: readonly string[],
  app?: string,
): NimbusError {
  const names = known.map((n) => `"${n}"`).join(", ") || "none";
  const subject = app === undefined ? "The app" : `App "${app}"`;
  return new NimbusError(unknownCodes[kind], `${subject} has no ${kind} "${name}" (its ${plural[kind]}: ${names}).`);
}
