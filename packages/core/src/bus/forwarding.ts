import { NimbusError } from "../errors/nimbus-error.ts";
import { busLimits } from "../limits.ts";

/**
 * Whether an event forwarded along `path` (the buses it went through, oldest first) may
 * enter bus `name` (docs/semantics.md, buses/delivery/4): the log line to write when it
 * came back to a bus it already visited, in which case it stops there; undefined when it
 * may enter. Past the 5th bus it throws `NIMBUS_BUS_HOPS`, which targets treat as a
 * refusal. Every target forwards through this one check.
 */
export function cycleBeforeEntering(path: readonly string[], name: string, eventId: string): string | undefined {
  if (path.includes(name)) {
    return `bus ${name}: event ${eventId} came back through ${path.join(" → ")} → ${name}; an event visits a bus once, so it stops here`;
  }
  if (path.length >= busLimits.maxHops) {
    throw new NimbusError(
      "NIMBUS_BUS_HOPS",
      `the event has passed through ${path.length} buses (${path.join(" → ")}), the most an event may`,
    );
  }
  return undefined;
}
