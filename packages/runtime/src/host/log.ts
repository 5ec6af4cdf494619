import { AsyncLocalStorage } from "node:async_hooks";
import { format } from "node:util";

export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * One log line, with the fields of the emulator's `--log-format json`: `time`, `fn` (absent
 * for the host's own lines), `invocationId` (inside an invocation), `level`, `message`.
 */
export interface LogEntry {
  time: Date;
  fn?: string;
  invocationId?: string;
  level: LogLevel;
  message: string;
}

/** Writes JSON lines: info and debug to stdout, warnings and errors to stderr. */
export interface HostLogger {
  log(entry: Omit<LogEntry, "time">): void;
  /** The host's own lines. */
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Runs `fn` as invocation `invocationId`: console lines of the handler inside carry its id. */
  invocation<T>(invocationId: string, fn: () => T): T;
  /** The invocation the current code runs in, if any. */
  readonly currentInvocation: string | undefined;
  /** Sends `console.*` of the whole process through the logger, as the function's lines. */
  captureConsole(fn: string): void;
}

const consoleLevels: Record<string, LogLevel> = {
  debug: "debug",
  log: "info",
  info: "info",
  warn: "warn",
  error: "error",
};

/** The host's logger; `write` replaces stdout and stderr (tests). */
export function hostLogger(write?: (line: string, level: LogLevel) => void): HostLogger {
  const invocations = new AsyncLocalStorage<string>();
  // Synchronous writes: a host is one function, and a line lost in a crash is the line that mattered.
  const out =
    write ??
    ((line: string, level: LogLevel) => {
      (level === "error" || level === "warn" ? process.stderr : process.stdout).write(`${line}\n`);
    });
  const log = (entry: Omit<LogEntry, "time">) => {
    const full: LogEntry = { time: new Date(), ...entry };
    out(JSON.stringify(full), full.level);
  };
  return {
    log,
    info: (message) => log({ level: "info", message }),
    warn: (message) => log({ level: "warn", message }),
    error: (message) => log({ level: "error", message }),
    invocation: (invocationId, fn) => invocations.run(invocationId, fn),
    get currentInvocation() {
      return invocations.getStore();
    },
    captureConsole(fn) {
      for (const [method, level] of Object.entries(consoleLevels)) {
        (console as unknown as Record<string, unknown>)[method] = (...args: unknown[]) =>
          log({ fn, invocationId: invocations.getStore(), level, message: format(...args) });
      }
    },
  };
}
