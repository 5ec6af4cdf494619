import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The emulator's own secrets, kept in the state folder so they survive restarts. */
export interface Credentials {
  /** Signs presigned bucket URLs. */
  presignSecret: string;
}

export const credentialsFile = "credentials.json";

/** Reads `<state>/credentials.json`, creating it (readable by its owner only) on first start. */
export async function loadCredentials(stateDir: string): Promise<Credentials> {
  const path = join(stateDir, credentialsFile);
  try {
    return JSON.parse(await readFile(path, "utf8")) as Credentials;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const credentials: Credentials = { presignSecret: randomBytes(32).toString("base64url") };
  await writeFile(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  return credentials;
}
