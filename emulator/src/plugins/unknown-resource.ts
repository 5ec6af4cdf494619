import { NimbusError } from "@nimbus/core";

const plural: Record<string, string> = { bus: "buses", queue: "queues", schedule: "schedules" };

/** The error for a name the app does not declare, listing the names it does. */
export function unknownResource(
  kind: "bus" | "queue" | "schedule",
  name: string,
  known: readonly string[],
): NimbusError {
  return new NimbusError(
    `NIMBUS_EMULATOR_UNKNOWN_${kind.toUpperCase()}`,
    `The app has no ${kind} "${name}" (its ${plural[kind]}: ${known.map((n) => `"${n}"`).join(", ") || "none"}).`,
  );
}
