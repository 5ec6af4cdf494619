import { dirname, join, sep } from "node:path";
import { fileURLToPath } from "node:url";

// emulator/src (or dist) and, in this repository, the packages beside the emulator.
const emulatorCode = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ours = [`${emulatorCode}${sep}`, `${join(emulatorCode, "..", "..", "packages")}${sep}`];

/** A stack frame of Node itself, of the emulator, or of a Nimbus package: where the handler was called from. */
function isOurs(line: string): boolean {
  if (/^\s+at (?:.* \()?node:/.test(line) || line.includes("[nodejs.internal")) return true;
  if (line.includes(`${sep}node_modules${sep}@nimbus${sep}`)) return true;
  return ours.some((dir) => line.includes(dir));
}

/**
 * The stack of a handler's error as its author needs it: the message and the author's
 * frames (their code and their dependencies), without the worker, the runtime's invoker
 * and Node's message port that called them. `NIMBUS_DEBUG=1` (`nimbus dev --debug`)
 * keeps every frame, for debugging the emulator itself.
 */
export function userFrames(stack: string): string {
  if (process.env.NIMBUS_DEBUG === "1") return stack;
  return stack
    .split("\n")
    .filter((line) => !/^\s+at /.test(line) || !isOurs(line))
    .join("\n");
}
