import { readFile, stat, utimes } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { workerRuntime } from "./worker-runtime.ts";

const buildOptions = fileURLToPath(new URL("../../build/node-module.ts", import.meta.url));

/** The source map a built module carries inline. */
async function inlineMap(file: string): Promise<{ sources: string[]; mappings: string; sourcesContent?: unknown }> {
  const text = await readFile(file, "utf8");
  const data = /\/\/# sourceMappingURL=data:application\/json;base64,([A-Za-z0-9+/=]+)\s*$/.exec(text)?.[1];
  expect(data, "an inline source map at the end of the runtime").toBeDefined();
  return JSON.parse(Buffer.from(data!, "base64").toString());
}

describe("workerRuntime, run from the sources", () => {
  it("maps its frames to the emulator's files without carrying their text, which every worker would hold", async () => {
    const map = await inlineMap(await workerRuntime());
    expect(map.sources.some((source) => source.endsWith("plugins/function/worker.ts"))).toBe(true);
    expect(map.mappings.length).toBeGreaterThan(1000);
    expect(map.sourcesContent).toBeUndefined();
  });

  it("is built again when the build options change, and reused while nothing changed", async () => {
    const first = await workerRuntime();
    expect(await workerRuntime()).toBe(first);
    const { atime, mtime } = await stat(buildOptions);
    try {
      await utimes(buildOptions, atime, new Date(mtime.getTime() + 60_000));
      expect(await workerRuntime()).not.toBe(first);
    } finally {
      await utimes(buildOptions, atime, mtime);
    }
    const restored = await workerRuntime();
    expect(await workerRuntime()).toBe(restored);
  }, 60_000);
});
