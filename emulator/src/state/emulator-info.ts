import { randomBytes } from "node:crypto";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeWhole } from "./write-whole.ts";

/**
 * What a running emulator leaves in `<state>/emulator.json` (readable by its owner only)
 * for the commands that talk to it: `nimbus dev` keeps it in `<dir>/.nimbus/`.
 */
export interface EmulatorInfo {
  url: string;
  /** The S3 endpoint; its credentials are in `credentials.json` beside this file. */
  s3: string;
  pid: number;
  app: string;
  startedAt: string;
  /** This run's secret for the control API, sent in the `x-nimbus-token` header. */
  token: string;
}

export const emulatorInfoFile = "emulator.json";

/** A new random control token: one per run, so an old one leaked is worth nothing. */
export function newControlToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * Writes the file whole (a reader never sees half of it), created with mode 0600 even
 * where a file of an earlier run was readable by others.
 */
export async function writeEmulatorInfo(stateDir: string, info: EmulatorInfo): Promise<void> {
  await writeWhole(join(stateDir, emulatorInfoFile), `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
}

/** Removes the file, unless another run has written its own since (a second emulator on the same state). */
export async function removeEmulatorInfo(stateDir: string, token: string): Promise<void> {
  const path = join(stateDir, emulatorInfoFile);
  try {
    const stored = JSON.parse(await readFile(path, "utf8")) as Partial<EmulatorInfo>;
    if (stored.token !== token) return;
  } catch {
    return;
  }
  await rm(path, { force: true });
}
