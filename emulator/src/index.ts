export {
  createEmulator,
  type Emulator,
  type EmulatorClock,
  type EmulatorOptions,
  type EmulatorQueue,
  type EmulatorS3,
} from "./emulator.ts";
export { controlTokenHeader } from "./gateway/control.ts";
export type { AllowedHosts } from "./gateway/host-check.ts";
export { appFileNames, findAppFile, type LoadedApp, loadApp } from "./loader/load-app.ts";
export type { LogEntry, LogFormat, LogLevel } from "./logs/logger.ts";
export type { DeadLetteredMessage } from "./plugins/queue/plugin.ts";
export { type EmulatorInfo, emulatorInfoFile } from "./state/emulator-info.ts";
