export { type BuildOptions, type BuildResult, type BuiltFile, build } from "./commands/build.ts";
export { type SynthOptions, type SynthResult, synth } from "./commands/synth.ts";
export { main } from "./main.ts";
export type { Output } from "./output.ts";
