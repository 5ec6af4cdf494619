import { cp, mkdtemp, rm } from "node:fs/promises";
import { basename, join } from "node:path";
import { repoRoot } from "./cli.ts";

/**
 * A writable copy of a fixture app inside `test/` (so `@nimbus/*` resolve as for an
 * author), for suites that edit files; removed by the returned function.
 */
export async function copyFixture(name: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(repoRoot, "test", `.tmp-${name}-`));
  await cp(join(repoRoot, "test", "fixtures", name), dir, { recursive: true });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Resolves once `check` holds, polling briefly; fails with `what` after `ms`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A writable copy of any app folder (a fixture, an example) under `test/`, so `@nimbus/*`
 * resolve through the test package; its `node_modules` and `.nimbus` state are left out.
 */
export async function copyApp(source: string): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(repoRoot, "test", `.tmp-${basename(source)}-`));
  await cp(source, dir, {
    recursive: true,
    filter: (path) => !["node_modules", ".nimbus"].includes(basename(path)),
  });
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
