import { NimbusError } from "@nimbus/core";
import type { Output } from "../output.ts";
import { control } from "./control.ts";

/** `nimbus send [dir] <queue> <json>`: one message, its body parsed from JSON. */
export async function sendCommand(
  args: { dir: string; queue: string; json: string; url?: string },
  output: Output,
): Promise<void> {
  try {
    JSON.parse(args.json);
  } catch (error) {
    throw new NimbusError(
      "NIMBUS_CLI_ARGS",
      `The message must be JSON (quote it for your shell, e.g. '{"id":1}'): ${(error as Error).message}`,
    );
  }
  const { ids } = (await control(args.dir, args.url, `/_nimbus/queues/${encodeURIComponent(args.queue)}/messages`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: args.json,
  })) as { ids: string[] };
  output.out(`sent ${ids[0]} to ${args.queue}`);
}

/** `nimbus queues [dir]`: each queue's counts, then the bus's and schedules' deliveries still on their way. */
export async function queuesCommand(args: { dir: string; url?: string }, output: Output): Promise<void> {
  const stats = (await control(args.dir, args.url, "/_nimbus/queues")) as Record<string, Counts>;
  const deliveries = (await control(args.dir, args.url, "/_nimbus/deliveries")) as Record<string, Counts>;
  const rows = Object.entries(stats);
  if (rows.length === 0) output.out("The app has no queues.");
  else table("queue", rows, output);
  const pending = Object.entries(deliveries);
  if (pending.length > 0) {
    output.out("");
    table("delivery (rule or schedule → target)", pending, output);
  }
}

interface Counts {
  depth: number;
  inFlight: number;
  delayed: number;
  deadLettered: number;
}

function table(title: string, rows: [string, Counts][], output: Output): void {
  const width = Math.max(title.length, ...rows.map(([name]) => name.length));
  output.out(`${title.padEnd(width)}  depth  in flight  delayed  dead-lettered`);
  for (const [name, s] of rows) {
    output.out(
      `${name.padEnd(width)}  ${String(s.depth).padStart(5)}  ${String(s.inFlight).padStart(9)}  ${String(s.delayed).padStart(7)}  ${String(s.deadLettered).padStart(13)}`,
    );
  }
}

/** `nimbus redrive [dir] <queue>`: a dead-letter queue's messages back to where they died. */
export async function redriveCommand(
  args: { dir: string; queue: string; url?: string },
  output: Output,
): Promise<void> {
  const { moved } = (await control(args.dir, args.url, `/_nimbus/queues/${encodeURIComponent(args.queue)}/redrive`, {
    method: "POST",
  })) as { moved: Record<string, number> };
  const entries = Object.entries(moved);
  if (entries.length === 0) output.out(`${args.queue} holds no dead-lettered messages.`);
  for (const [queue, count] of entries) output.out(`moved ${count} message${count === 1 ? "" : "s"} back to ${queue}`);
}
