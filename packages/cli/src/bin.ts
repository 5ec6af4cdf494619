#!/usr/bin/env node
// A namespace import: on a Node too old for Nimbus a named one would fail to link
// before the version check below could say what to do.
import * as nodeModule from "node:module";

const [major = 0, minor = 0] = process.versions.node.split(".").map(Number);
if (major < 22 || (major === 22 && minor < 22)) {
  process.stderr.write(`✖ nimbus needs Node.js 22.22 or newer; this is ${process.version}. Install a current LTS.\n`);
  process.exit(1);
}
// Caches compiled (and, from source, type-stripped) modules between runs: a warm
// `nimbus` starts in a fraction of the cold time. Enabled before anything else loads.
nodeModule.enableCompileCache();
const { main } = await import("./main.ts");
process.exitCode = await main(process.argv.slice(2));
