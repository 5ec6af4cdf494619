import { type Duration, NimbusError, parseDuration } from "@nimbus/core";

/**
 * The emulator's time. `real` follows the system clock. `manual` starts at the system
 * time and moves only when a test calls `advance`, so what depends on time (object
 * timestamps, presigned URL expiry) can be tested without waiting.
 *
 * The time lives in a SharedArrayBuffer that function workers read too, so a handler's
 * writes carry the same clock as the emulator's own.
 */
export class Clock {
  readonly mode: "real" | "manual";
  /** Shared with workers: `[0]` is the manual time in ms since the epoch. */
  readonly shared: SharedArrayBuffer;
  readonly #time: Float64Array;

  constructor(mode: "real" | "manual") {
    this.mode = mode;
    this.shared = new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT);
    this.#time = new Float64Array(this.shared);
    this.#time[0] = Date.now();
  }

  now(): number {
    return this.mode === "real" ? Date.now() : this.#time[0]!;
  }

  /** Moves a manual clock forward by a duration (`"5m"`) or milliseconds. */
  async advance(by: Duration | number): Promise<void> {
    if (this.mode !== "manual") {
      throw new NimbusError(
        "NIMBUS_CLOCK_REAL",
        'clock.advance() needs a manual clock: start the emulator with createEmulator({ clock: "manual" }).',
      );
    }
    const ms = typeof by === "number" ? by : parseDuration(by);
    if (ms === undefined || !Number.isFinite(ms) || ms < 0) {
      throw new NimbusError(
        "NIMBUS_CLOCK_ADVANCE",
        `clock.advance() takes a duration such as "5m" or a number of milliseconds, at least 0; found ${JSON.stringify(by)}.`,
      );
    }
    this.#time[0] = this.#time[0]! + ms;
  }
}

/** The clock as a worker sees it, from the buffer the emulator shared (none: the real clock). */
export function sharedNow(shared: SharedArrayBuffer | undefined): () => number {
  if (!shared) return Date.now;
  const time = new Float64Array(shared);
  return () => time[0]!;
}
