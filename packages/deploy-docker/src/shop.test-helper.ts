import type { Graph } from "@nimbus/core";

/**
 * The shop example's graph, as `nimbus synth` makes it: its app file's default export,
 * built. Imported by URL, since a test of this package may not import another
 * workspace's files by a relative path; the app imports only @nimbus/core.
 */
export async function shopGraph(): Promise<Graph> {
  const url = new URL("../../../examples/shop/nimbus.app.ts", import.meta.url).href;
  const module = (await import(/* @vite-ignore */ url)) as { default: { toGraph(): Graph } };
  return module.default.toGraph();
}
