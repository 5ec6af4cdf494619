/**
 * A function's concurrency, on every target: at most `limit` holders at once; up to
 * `queueLimit` more wait in order; past that, `acquire` refuses at once so the caller can
 * answer 503 instead of piling up memory.
 */
export class Limiter {
  readonly limit: number;
  readonly queueLimit: number;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  constructor(limit: number, queueLimit: number) {
    this.limit = limit;
    this.queueLimit = queueLimit;
  }

  get active(): number {
    return this.#active;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  /**
   * Resolves with a release function, or with undefined when the queue is full. `always`
   * waits whatever the queue (for work bounded elsewhere, such as a consumer's deliveries).
   */
  async acquire(always = false): Promise<(() => void) | undefined> {
    const free = this.tryAcquire();
    if (free) return free;
    if (!always && this.#waiting.length >= this.queueLimit) return undefined;
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
    return this.#releaser();
  }

  /** A release function when a slot is free now, without waiting a turn; else undefined. */
  tryAcquire(): (() => void) | undefined {
    if (this.#active >= this.limit) return undefined;
    this.#active++;
    return this.#releaser();
  }

  #releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiting.shift();
      // The slot passes straight to the next waiter, so `active` never dips below the load.
      if (next) next();
      else this.#active--;
    };
  }
}
