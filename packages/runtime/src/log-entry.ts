export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * One log line, the same on every target: the emulator keeps these for `emu.logs` and
 * prints them with `--log-format json`; the deployed host writes them as JSON lines.
 */
export interface LogEntry {
  time: Date;
  /** The function it came from; absent for the emulator's or the host's own lines. */
  fn?: string;
  /** The invocation it was written in, if any. */
  invocationId?: string;
  level: LogLevel;
  message: string;
}
