import type { BuildOptions } from "esbuild";

/** How the emulator bundles author code: one ES module for Node, inline source maps, inputs reported. */
export const nodeModuleBuild = {
  bundle: true,
  platform: "node",
  format: "esm",
  target: "node22",
  sourcemap: "inline",
  metafile: true,
  logLevel: "silent",
} as const satisfies BuildOptions;

/** Bundled CommonJS dependencies may call require; an ES module bundle gives them one. */
export const requireBanner = {
  js: 'import { createRequire as __nimbusCreateRequire } from "node:module"; const require = __nimbusCreateRequire(import.meta.url);',
};
