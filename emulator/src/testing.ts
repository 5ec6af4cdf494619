/**
 * The emulator for an app's own tests (`@nimbus/emulator/testing`), the one entry an
 * example may import: start the app with `createEmulator({ root, clock: "manual" })`,
 * drive time with `emu.clock.advance("5m")`, wait for background work with `emu.idle()`,
 * and seed or inspect buckets, queues, buses and schedules through the emulator.
 */
export {
  createEmulator,
  type Emulator,
  type EmulatorClock,
  type EmulatorOptions,
  type EmulatorQueue,
  type EmulatorS3,
  type EmulatorSchedule,
} from "./emulator.ts";
export type { LogEntry, LogLevel } from "./logs/logger.ts";
export type { DeadLetteredMessage } from "./plugins/queue/plugin.ts";
