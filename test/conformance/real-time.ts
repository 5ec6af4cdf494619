// What the real-clock form of a statement (`ClockForms.real`) waits with. A real clock
// cannot be stopped at 9,999 ms, so these forms check the times the handlers recorded
// against the app's (short) durations within the tolerances below, and wait for outcomes
// by polling what a user could read.
import { setTimeout as sleep } from "node:timers/promises";

export { sleep };

/**
 * Ms a deployed target may be late with something due (a retry, a delay, a batch wait, a
 * tick): a JetStream redelivery, a host's pull and the handler's record, on a loaded
 * 2-core CI machine. Early is never tolerated beyond `early`.
 */
export const late = 2_000;
/** Ms by which two clocks (the test's, a host's, nats-server's) may disagree. */
export const early = 50;

/**
 * Polls `check` until it returns something other than undefined/false, and returns it;
 * after `within` ms fails with `what`, so a test that waits for a delivery that never
 * comes says which.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  within = 15_000,
): Promise<T> {
  const deadline = Date.now() + within;
  for (;;) {
    const found = await check();
    if (found !== undefined && found !== false) return found;
    if (Date.now() > deadline) throw new Error(`waited ${within} ms for ${what}`);
    await sleep(50);
  }
}

/** Asserts that `actual` ms lies in [expected − early, expected + late], naming `what`. */
export function expectAbout(what: string, actual: number, expected: number, tolerance = late): void {
  if (actual < expected - early || actual > expected + tolerance) {
    throw new Error(`${what}: expected ${expected} ms (−${early}/+${tolerance}), found ${actual} ms`);
  }
}
