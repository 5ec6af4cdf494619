// Copies the examples that `nimbus init --template` starts from into dist/templates/, so
// the published package carries them (the repository's examples are not in it). Run by
// the package's build, after tsc.
import { cpSync, existsSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { templateNames } from "../src/commands/init.ts";

const examples = fileURLToPath(new URL("../../../examples/", import.meta.url));
const out = fileURLToPath(new URL("../dist/templates/", import.meta.url));
// Installs and state stay behind.
const skipped = new Set(["node_modules", ".nimbus", "dist"]);

rmSync(out, { recursive: true, force: true });
const copied: string[] = [];
for (const name of templateNames) {
  const source = join(examples, name);
  // A template whose example is not written yet is left out; init then says so.
  if (!existsSync(join(source, "nimbus.app.ts"))) continue;
  cpSync(source, join(out, name), { recursive: true, filter: (path) => !skipped.has(basename(path)) });
  copied.push(name);
}
console.log(`templates: ${copied.join(", ")}`);
