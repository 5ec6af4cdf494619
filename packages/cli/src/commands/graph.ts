import { serializeGraph } from "@nimbus/core";
import { loadApp } from "@nimbus/emulator";
import type { Output } from "../output.ts";

export const graphHelp = `nimbus graph [dir]

Prints the app's resource graph as JSON: every resource with its normalised spec and
every edge, sorted, the same bytes for the same app.

  dir   the folder holding nimbus.app.ts (default: the current folder)`;

export async function graphCommand(args: { dir: string }, output: Output): Promise<void> {
  const { graph } = await loadApp(args.dir);
  output.out(serializeGraph(graph));
}
