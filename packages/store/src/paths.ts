import { join } from "node:path";

/** A bucket's folder under the emulator's state: its index and its blob files. */
export function bucketDir(stateDir: string, bucket: string): string {
  return join(stateDir, "buckets", bucket);
}
