import { type FSWatcher, watch } from "chokidar";
import type { Logger } from "../logs/logger.ts";
import type { RunningFunction } from "../plugins/function/plugin.ts";

export interface ReloaderOptions {
  logger: Logger;
  appInputs(): readonly string[];
  functions(): Iterable<RunningFunction>;
  reloadApp(): Promise<void>;
  reloadFunction(fn: RunningFunction): Promise<void>;
  /** How long a burst of writes may take to settle into one reload. */
  settleMs?: number;
}

/**
 * Watches every function's inputs and the app file's, collapses editor save bursts into
 * one reload, and rebuilds only what a change touches: functions whose bundle includes
 * the file, or the whole app graph when the app file (or what it imports) changed.
 * Reloads run one at a time, in order.
 */
export class Reloader {
  readonly #options: ReloaderOptions;
  #watcher: FSWatcher | undefined;
  #watched = new Set<string>();
  #changed = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #firstChangeAt = 0;
  #queue: Promise<void> = Promise.resolve();

  constructor(options: ReloaderOptions) {
    this.#options = options;
  }

  async start(): Promise<void> {
    this.#watcher = watch([], { ignoreInitial: true });
    this.#watcher.on("all", (_event, path) => this.#onChange(path));
    this.refresh();
    await new Promise<void>((resolve) => this.#watcher!.once("ready", () => resolve()));
  }

  /** Watches exactly the current inputs (they change as imports are added or removed). */
  refresh(): void {
    if (!this.#watcher) return;
    const wanted = new Set<string>(this.#options.appInputs());
    for (const fn of this.#options.functions()) for (const input of fn.inputs) wanted.add(input);
    const added = [...wanted].filter((path) => !this.#watched.has(path));
    const removed = [...this.#watched].filter((path) => !wanted.has(path));
    if (added.length) this.#watcher.add(added);
    if (removed.length) this.#watcher.unwatch(removed);
    this.#watched = wanted;
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer);
    await this.#watcher?.close();
    await this.#queue;
  }

  /** Resolves when every reload started so far has finished. */
  settled(): Promise<void> {
    return this.#queue;
  }

  #onChange(path: string): void {
    if (this.#changed.size === 0) this.#firstChangeAt = performance.now();
    this.#changed.add(path);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      const changed = this.#changed;
      const since = this.#firstChangeAt;
      this.#changed = new Set();
      this.#queue = this.#queue.then(() => this.#apply(changed, since));
    }, this.#options.settleMs ?? 15);
  }

  async #apply(changed: Set<string>, since: number): Promise<void> {
    const { logger } = this.#options;
    if (this.#options.appInputs().some((input) => changed.has(input))) {
      try {
        await this.#options.reloadApp();
      } catch {
        return; // reported by reloadApp; the last good version keeps serving
      }
    }
    const affected = [...this.#options.functions()].filter((fn) => fn.inputs.some((input) => changed.has(input)));
    await Promise.all(
      affected.map(async (fn) => {
        try {
          await this.#options.reloadFunction(fn);
          logger.info(`reloaded ${fn.name} in ${Math.round(performance.now() - since)} ms`);
        } catch (error) {
          logger.error(`${(error as Error).message}\n  still serving the last good version of ${fn.name}`);
        }
      }),
    );
    this.refresh();
  }
}
