// What the build and synth tests share: a copy of the shop example to build, and the
// bytes of what a command wrote.
import { cp, mkdtemp, readdir, readFile } from "node:fs/promises";
import { basename, join } from "node:path";

const cliDir = join(import.meta.dirname, "..", "..");
const shop = join(cliDir, "..", "..", "examples", "shop");

/**
 * A copy of examples/shop, without its node_modules and .nimbus, in a new directory
 * named `${prefix}…` inside packages/cli, so the shop's `@nimbus/*` imports resolve
 * through this package.
 */
export async function copyShop(prefix: string): Promise<string> {
  const app = await mkdtemp(join(cliDir, prefix));
  await cp(shop, app, { recursive: true, filter: (path) => !["node_modules", ".nimbus"].includes(basename(path)) });
  return app;
}

/** Every file under `dir` with its bytes, by relative path. */
export async function snapshot(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    files.set(path.slice(dir.length + 1), (await readFile(path)).toString("base64"));
  }
  return files;
}
