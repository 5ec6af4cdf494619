import { styleText } from "node:util";
import type { LogEntry, LogLevel } from "@nimbus/runtime/target";

// The line shape is the deployed host's too: one definition, in runtime.
export type { LogEntry, LogLevel } from "@nimbus/runtime/target";

export type LogFormat = "pretty" | "json" | "silent";

export interface LoggerOptions {
  format: LogFormat;
  /** Where lines are written; defaults to stdout (stderr for warnings and errors). */
  write?: (line: string, level: LogLevel) => void;
  /** Colours, for a TTY. */
  color?: boolean;
  /** Most entries kept in memory for `emu.logs`. */
  keep?: number;
}

const levelStyle: Record<LogLevel, Parameters<typeof styleText>[0]> = {
  debug: "gray",
  info: "white",
  warn: "yellow",
  error: "red",
};

/** Collects entries for the programmatic API and prints them, pretty or as JSON lines. */
export class Logger {
  readonly entries: LogEntry[] = [];
  readonly #options: LoggerOptions;
  readonly #keep: number;

  constructor(options: LoggerOptions) {
    this.#options = options;
    this.#keep = options.keep ?? 10_000;
  }

  log(entry: Omit<LogEntry, "time"> & { time?: Date }): void {
    const time = entry.time ?? new Date();
    if (this.#keep > 0) {
      this.entries.push({ ...entry, time });
      // Trimmed in steps, not per entry: dropping the oldest of 10,000 on every request would cost more than serving it.
      if (this.entries.length > this.#keep * 1.25) this.entries.splice(0, this.entries.length - this.#keep);
    }
    if (this.#options.format === "silent") return;
    const line =
      this.#options.format === "json"
        ? JSON.stringify({
            time: isoTime(time),
            fn: entry.fn,
            invocationId: entry.invocationId,
            level: entry.level,
            message: entry.message,
          })
        : this.#pretty(entry, time);
    if (this.#options.write) {
      this.#options.write(line, entry.level);
      return;
    }
    // Writes to a pipe are synchronous on Linux: one per request would dominate a busy
    // emulator, so lines are batched and written once per turn of the event loop.
    const batch = entry.level === "error" || entry.level === "warn" ? this.#stderr : this.#stdout;
    batch.push(line);
    this.#flushing ??= setImmediate(() => this.flush());
  }

  readonly #stdout: string[] = [];
  readonly #stderr: string[] = [];
  #flushing: NodeJS.Immediate | undefined;

  /** Writes every batched line now. */
  flush(): void {
    clearImmediate(this.#flushing);
    this.#flushing = undefined;
    if (this.#stdout.length) process.stdout.write(`${this.#stdout.splice(0).join("\n")}\n`);
    if (this.#stderr.length) process.stderr.write(`${this.#stderr.splice(0).join("\n")}\n`);
  }

  /** The emulator's own messages. */
  info(message: string): void {
    this.log({ level: "info", message });
  }

  warn(message: string): void {
    this.log({ level: "warn", message });
  }

  error(message: string): void {
    this.log({ level: "error", message });
  }

  #pretty(entry: Omit<LogEntry, "time">, at: Date): string {
    const paint = (style: Parameters<typeof styleText>[0], text: string) =>
      this.#options.color ? styleText(style, text) : text;
    const time = isoTime(at)?.slice(11, 23) ?? "--:--:--.---";
    const who = entry.fn ? `[${entry.fn}${entry.invocationId ? ` ${entry.invocationId}` : ""}]` : "[nimbus]";
    const message =
      entry.level === "info" || entry.level === "debug" ? entry.message : paint(levelStyle[entry.level], entry.message);
    return `${paint("gray", time)} ${paint("cyan", who)} ${message}`;
  }
}

let lastMs = Number.NaN;
let lastIso = "";

/**
 * A line's time as JSON writes a Date (null if invalid), made once per millisecond: a
 * Date's own conversion costs more than the rest of a busy emulator's request line.
 */
function isoTime(time: Date): string | null {
  const ms = time.getTime();
  if (!Number.isFinite(ms)) return null;
  if (ms !== lastMs) {
    lastIso = time.toISOString();
    lastMs = ms;
  }
  return lastIso;
}
