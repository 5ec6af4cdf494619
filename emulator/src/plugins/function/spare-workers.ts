import { Worker } from "node:worker_threads";

const bootstrap = new URL("./bootstrap.mjs", import.meta.url);

/**
 * Started workers waiting for a function to load, one per memory limit reloads use: a
 * reload then costs loading the new code, not starting a thread (most of a reload's
 * time otherwise). Spares exist only once code is being edited: the first reload starts
 * one (an idle thread holds about 15 MB), and a spare taken by a reload is replaced once
 * the emulator is idle again.
 */
export class SpareWorkers {
  readonly #spares = new Map<number, Worker>();
  readonly #refills = new Set<NodeJS.Timeout>();
  #closed = false;

  /**
   * A started worker with this heap limit (MiB): a spare if one is waiting, else a new
   * one. `forReload` keeps a spare of this limit ready for the next reload.
   */
  take(memoryMb: number, forReload: boolean): Worker {
    const spare = this.#spares.get(memoryMb);
    this.#spares.delete(memoryMb);
    if (forReload && !this.#closed) this.#refillLater(memoryMb);
    return spare ?? start(memoryMb);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#refills) clearTimeout(timer);
    await Promise.all([...this.#spares.values()].map((worker) => worker.terminate()));
    this.#spares.clear();
  }

  #refillLater(memoryMb: number): void {
    // Later, so that starting the spare does not compete with the load that took one.
    const timer = setTimeout(() => {
      this.#refills.delete(timer);
      if (this.#closed || this.#spares.has(memoryMb)) return;
      const worker = start(memoryMb);
      worker.unref();
      worker.once("exit", () => {
        if (this.#spares.get(memoryMb) === worker) this.#spares.delete(memoryMb);
      });
      this.#spares.set(memoryMb, worker);
    }, 100);
    timer.unref();
    this.#refills.add(timer);
  }
}

function start(memoryMb: number): Worker {
  return new Worker(bootstrap, {
    execArgv: ["--enable-source-maps", "--disable-warning=ExperimentalWarning"],
    // A small nursery: a busy worker's heap otherwise grows by ~100 MB under load, for no
    // measurable gain in throughput here (bench/src/emulator.ts).
    resourceLimits: { maxOldGenerationSizeMb: memoryMb, maxYoungGenerationSizeMb: 8 },
  });
}
