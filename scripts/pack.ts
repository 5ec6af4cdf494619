/**
 * Packs every published package into a tarball that plain `npm install` takes, outside
 * this repository: `workspace:*` becomes the real version and `publishConfig.exports`
 * replaces the exports (without the `nimbus-source` condition, whose sources are not in
 * the tarball). Needs `./pnpm build` first; `./pnpm pack-all` runs both.
 *
 * Usage: node scripts/pack.ts [--out <folder>]   (default: packs/; prints each tarball's path)
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

const root = resolve(import.meta.dirname, "..");

/** The folders of the packages a user installs: every non-private one of the workspace's libraries. */
export function publishedPackages(): string[] {
  const candidates = [
    ...readdirSync(join(root, "packages")).map((name) => join(root, "packages", name)),
    join(root, "emulator"),
  ];
  return candidates.filter((dir) => {
    const manifest = join(dir, "package.json");
    return existsSync(manifest) && !(JSON.parse(readFileSync(manifest, "utf8")) as { private?: boolean }).private;
  });
}

/** Packs each package into `out`; resolves with the tarballs' paths. */
export function packAll(out: string): string[] {
  mkdirSync(out, { recursive: true });
  const tarballs: string[] = [];
  for (const dir of publishedPackages()) {
    if (!existsSync(join(dir, "dist"))) {
      throw new Error(`${dir} has no dist/: run ./pnpm build first (or ./pnpm pack-all, which builds then packs).`);
    }
    const printed = execFileSync(join(root, "pnpm"), ["pack", "--json", "--pack-destination", out], {
      cwd: dir,
      encoding: "utf8",
    });
    tarballs.push(resolve(out, (JSON.parse(printed) as { filename: string }).filename));
  }
  return tarballs;
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { out: { type: "string" } } });
  for (const tarball of packAll(resolve(values.out ?? join(root, "packs")))) console.log(tarball);
}
