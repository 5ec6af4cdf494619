import { randomBytes } from "node:crypto";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** The emulator's own secrets, kept in the state folder so they survive restarts. */
export interface Credentials {
  /** The S3 endpoint's one access key, shaped like AWS's (20 and 40 characters); presigned URLs use it too. */
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
    s3: stored.s3 ?? {
      accessKeyId: `NIMBUS${randomBytes(10).toString("hex").toUpperCase().slice(0, 14)}`,
      secretAccessKey: randomBytes(30).toString("base64").replace(/[+/]/g, "A").slice(0, 40),
    },
  };
  // A file from before presigned URLs were SigV4 may still hold a "presignSecret": it is ignored.
  if (stored.s3 !== credentials.s3) {
    await writeFile(path, `${JSON.stringify(credentials, null, 2)}\n`, { mode: 0o600 });
  }
  return credentials;
}
