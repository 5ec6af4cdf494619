export { type BuildOptions, type BuildResult, type BuiltFile, build } from "./commands/build.ts";
export { buildHost, type SynthOptions, type SynthResult, synth } from "./commands/synth.ts";
export { main } from "./main.ts";
export type { Output } from "./output.ts";
