import { serializeGraph } from "@nimbus/core";
import { loadApp } from "@nimbus/emulator";
import type { Output } from "../output.ts";

export async function graphCommand(args: { dir: string }, output: Output): Promise<void> {
  const { graph } = await loadApp(args.dir);
  output.out(serializeGraph(graph));
}
