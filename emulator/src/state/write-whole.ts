import { rename, writeFile } from "node:fs/promises";

/**
 * Writes `contents` to `path` under a temporary name of this process, then renames it:
 * a reader, in this process or another, sees the old file or the new one, never half.
 */
export async function writeWhole(
  path: string,
  contents: string | Uint8Array,
  options?: { mode?: number },
): Promise<void> {
  const partial = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(partial, contents, options);
  await rename(partial, path);
}
