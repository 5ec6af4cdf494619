import type { DeliveryOutcome } from "./decide.ts";

/** Checked as a brand, not `instanceof`: the emulator's workers and a target can load their own copy of core. */
const brand = Symbol.for("nimbus.refusal");

/**
 * Marks a failed delivery as one that can never succeed (the target refuses what it is
 * given: a queue's schema, a bus's hop limit). `failedDelivery` turns it into a `final`
 * outcome, which `decideDelivery` ends at once, whatever the attempts left.
 */
export function refusal(reason: unknown): Error {
  const error = reason instanceof Error ? reason : new Error(String(reason));
  Object.defineProperty(error, brand, { value: true });
  return error;
}

/** Whether `error` was marked by `refusal`: the one way to say "never retry". */
export function isRefusal(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[brand] === true;
}

/** The outcome of a delivery that threw `error`: retried after `delay` or the back-off, or, for a refusal, final. */
export function failedDelivery(error: unknown, delay?: number): Extract<DeliveryOutcome, { type: "retry" }> {
  return {
    type: "retry",
    error: error instanceof Error ? error.message : String(error),
    ...(delay === undefined ? {} : { delay }),
    ...(isRefusal(error) ? { final: true } : {}),
  };
}
