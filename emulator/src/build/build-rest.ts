/**
 * Tells when the emulator has stopped building, so esbuild's service can be given back.
 * The service is a Go process that keeps every incremental context's parsed files: about
 * 60 MB for ten functions, held for as long as the emulator runs although it is only
 * used while files change. After `restMs` without a build, `rest` runs (it disposes the
 * contexts and stops the service); the next build waits for it to finish and then starts
 * the service again, which costs that one build about 20 ms.
 */
export class BuildRest {
  readonly #restMs: number | undefined;
  readonly #rest: () => Promise<void>;
  #building = 0;
  #timer: NodeJS.Timeout | undefined;
  #resting: Promise<void> | undefined;
  #closed = false;

  /** Without `restMs`, nothing is ever stopped: for processes where other code uses esbuild too. */
  constructor(options: { restMs?: number; rest: () => Promise<void> }) {
    this.#restMs = options.restMs;
    this.#rest = options.rest;
  }

  /** Runs a build: the service is not stopped while one runs, nor until `restMs` after the last. */
  async during<T>(build: () => Promise<T>): Promise<T> {
    clearTimeout(this.#timer);
    await this.#resting;
    this.#building++;
    try {
      return await build();
    } finally {
      if (--this.#building === 0) this.#arm();
    }
  }

  /** No more rests: the emulator is closing. */
  close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    return this.#resting ?? Promise.resolve();
  }

  #arm(): void {
    if (this.#restMs === undefined || this.#closed) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#building > 0 || this.#closed) return;
      this.#resting = this.#rest()
        .catch(() => {
          // A context that fails to dispose is gone with the service anyway.
        })
        .finally(() => {
          this.#resting = undefined;
        });
    }, this.#restMs);
    this.#timer.unref();
  }
}
