import { type Duration, NimbusError, parseDuration } from "@nimbus/core";

/**
 * The emulator's time. `real` follows the system clock. `manual` starts at the system
 * time and moves only when a test calls `advance`, so what depends on time (object
 * timestamps, presigned URL expiry) can be tested without waiting.
 *
 * The time lives in a SharedArrayBuffer that function workers read too, so a handler's
 * writes carry the same clock as the emulator's own.
 */
interface Timer {
  at: number;
  run: () => void;
  handle?: NodeJS.Timeout;
}

export class Clock {
  readonly mode: "real" | "manual";
  /** Shared with workers: `[0]` is the manual time in ms since the epoch. */
  readonly shared: SharedArrayBuffer;
  readonly #time: Float64Array;
  readonly #timers = new Set<Timer>();
  /**
   * What `advance` waits on after each step: `mark()` before the step, then `settle(mark)`
   * for the work the step's timers started.
   */
  work: { mark: () => number; settle: (since: number) => Promise<void> } = {
    mark: () => 0,
    settle: async () => {},
  };

  constructor(mode: "real" | "manual") {
    this.mode = mode;
    this.shared = new SharedArrayBuffer(Float64Array.BYTES_PER_ELEMENT);
    this.#time = new Float64Array(this.shared);
    this.#time[0] = Date.now();
  }

  now(): number {
    return this.mode === "real" ? Date.now() : this.#time[0]!;
  }

  /**
   * Calls `run` once time reaches `at` (ms since the epoch): a real timer on the real
   * clock, or when `advance` passes it on the manual one. Returns a cancel function.
   */
  at(at: number, run: () => void): () => void {
    const timer: Timer = { at, run };
    this.#timers.add(timer);
    if (this.mode === "real") {
      // setTimeout caps at about 24.8 days; a later timer re-arms when that one fires.
      const arm = () => {
        const wait = Math.min(Math.max(0, timer.at - Date.now()), 2 ** 31 - 1);
        timer.handle = setTimeout(() => {
          if (Date.now() < timer.at) return arm();
          this.#timers.delete(timer);
          timer.run();
        }, wait);
        timer.handle.unref();
      };
      arm();
    }
    return () => {
      clearTimeout(timer.handle);
      this.#timers.delete(timer);
    };
  }

  /** Cancels every timer, as the emulator closes. */
  stop(): void {
    for (const timer of this.#timers) clearTimeout(timer.handle);
    this.#timers.clear();
  }

  /**
   * Moves a manual clock forward by a duration (`"5m"`) or milliseconds, firing every
   * timer due on the way in time order; after each, waits for the work it started
   * (deliveries, and the timers they set in turn) before taking the next step.
   */
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
    const target = this.#time[0]! + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const timer of this.#timers) if (timer.at <= target && (!next || timer.at < next.at)) next = timer;
      if (!next) break;
      this.#timers.delete(next);
      this.#time[0] = Math.max(this.#time[0]!, next.at);
      const mark = this.work.mark();
      next.run();
      await this.work.settle(mark);
    }
    this.#time[0] = target;
    const mark = this.work.mark();
    await this.work.settle(mark);
  }
}

/** The clock as a worker sees it, from the buffer the emulator shared (none: the real clock). */
export function sharedNow(shared: SharedArrayBuffer | undefined): () => number {
  if (!shared) return Date.now;
  const time = new Float64Array(shared);
  return () => time[0]!;
}
