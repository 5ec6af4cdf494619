import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The emulator's own secrets, kept in the state folder so they survive restarts. */
export interface Credentials {
  /** Signs presigned bucket URLs. */
  presignSecret: string;
  /** The S3 endpoint's one access key, shaped like AWS's (20 and 40 characters). */
  s3: { accessKeyId: string; secretAccessKey: string };
}

export const credentialsFile = "credentials.json";

/**
 * Reads `<state>/credentials.json`, creating what is missing (readable by its owner
 * only) on first start.
 */
export async function loadCredentials(stateDir: string): Promise<Credentials> {
  const path = join(stateDir, credentialsFile);
  let stored: Partial<Credentials> = {};
  try {
    stored = JSON.parse(await readFile(path, "utf8")) as Partial<Credentials>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const credentials: Credentials = {
    presignSecret: stored.presignSecret ?? randomBytes(32).toString("base64url"),
    s3: stored.s3 ?? {
      accessKeyId: `NIMBUS${randomBytes(10).toString("hex").toUpperCase().slice(0, 14)}`,
      secretAccessKey: randomBytes(30).toString("base64").replace(/[+/]/g, "A").slice(0, 40),
    },
  };
  if (stored.presignSecret !== credentials.presignSecret || stored.s3 !== credentials.s3) {
    await writeFile(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  }
  return credentials;
}
