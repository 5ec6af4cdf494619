/**
 * The emulator's background work (queue deliveries, bus deliveries, notification drains),
 * so that tests can wait for it: `idle()` for all of it, and a manual clock's `advance`
 * for what each of its steps set off.
 *
 * Work is stamped with the step it started in (`mark()` opens a step); `settle(mark)`
 * waits for work of that step and later ones, so a delivery a test holds open from
 * before does not hold the clock up.
 */
export class Work {
  #step = 0;
  readonly #running = new Map<Promise<void>, number>();
  readonly #pumps: (() => void)[] = [];

  /** A mark for `settle`: work started from now on. */
  mark(): number {
    return ++this.#step;
  }

  /** Counts `promise` as work of the current step until it settles; its outcome is the caller's to handle. */
  track(promise: Promise<unknown>): void {
    const tracked: Promise<void> = promise.then(
      () => {
        this.#running.delete(tracked);
      },
      () => {
        this.#running.delete(tracked);
      },
    );
    this.#running.set(tracked, this.#step);
  }

  /** Called before each check in `settle`, to start what is due now (a queue's next batch). */
  onSettle(pump: () => void): void {
    this.#pumps.push(pump);
  }

  /** Resolves once no work started at or after `since` runs, and none is due to start now. */
  async settle(since: number): Promise<void> {
    for (;;) {
      for (const pump of this.#pumps) pump();
      const waiting = [...this.#running].filter(([, step]) => step >= since).map(([work]) => work);
      if (waiting.length === 0) return;
      await Promise.all(waiting);
    }
  }

  /** Resolves once no work runs and none is due now; work due later is not waited for. */
  idle(): Promise<void> {
    return this.settle(Number.NEGATIVE_INFINITY);
  }

  /** Resolves once all work that runs now has finished, starting nothing new (as the emulator closes). */
  async drain(): Promise<void> {
    while (this.#running.size > 0) await Promise.all(this.#running.keys());
  }
}
