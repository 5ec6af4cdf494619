import { AsyncLocalStorage } from "node:async_hooks";
import { format } from "node:util";
import type { LogEntry, LogLevel } from "../log-entry.ts";

// The JSON line shape is the emulator's too: one definition, shared by every target.
export type { LogEntry, LogLevel } from "../log-entry.ts";

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
  const out = write ?? processOutput();
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

/**
 * Writes to stdout and stderr. Warnings and errors are written at once, synchronously: a
 * line lost in a crash is the line that mattered. Info and debug lines (one per request
 * under load) are gathered and written once per turn of the event loop, which costs a
 * third of the CPU less than a write each; they are written before any warning or error
 * (so the order holds) and when the process exits, also by `process.exit` or an uncaught
 * exception. Only a kill -9 or an abort can lose them: at most one turn's lines.
 */
function processOutput(): (line: string, level: LogLevel) => void {
  let pending = "";
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    if (pending === "") return;
    const text = pending;
    pending = "";
    process.stdout.write(text);
  };
  process.on("exit", flush);
  return (line, level) => {
    if (level === "error" || level === "warn") {
      flush();
      process.stderr.write(`${line}\n`);
      return;
    }
    pending += `${line}\n`;
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
}
