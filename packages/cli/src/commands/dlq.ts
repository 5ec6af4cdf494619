import { createInterface } from "node:readline/promises";
import { NimbusError } from "@nimbus/core";
import type { Output } from "../output.ts";
import { control } from "./control.ts";

export interface DlqArgs {
  dir: string;
  queue: string;
  /** Empty the queue after listing it. */
  purge: boolean;
  /** Purge without asking (for scripts). */
  yes: boolean;
  /** Most messages listed. */
  limit: number;
  url?: string;
}

/** Asks a question on the terminal and resolves with the answer; undefined when there is no terminal to ask on. */
export type Prompt = (question: string) => Promise<string | undefined>;

/** A dead-lettered message as the control API lists it. */
interface DeadLetter {
  id: string;
  body: unknown;
  queue: string;
  attempts: number;
  firstSeen: string;
  lastError: string;
}

interface Counts {
  depth: number;
  inFlight: number;
  delayed: number;
}

/**
 * `nimbus dlq [dir] <queue> [--purge [--yes]]`: the messages waiting in a dead-letter
 * queue, oldest first, each with where it died, its attempts there, when it was first
 * sent and its last error; with `--purge`, then deletes every message in the queue once
 * the user confirms (or `--yes` says so for a script). Resolves with the exit code.
 */
export async function dlqCommand(args: DlqArgs, output: Output, prompt: Prompt = terminalPrompt): Promise<number> {
  const queue = encodeURIComponent(args.queue);
  const { messages } = (await control(
    args.dir,
    args.url,
    `/_nimbus/queues/${queue}/dead-letters?limit=${args.limit}`,
  )) as {
    messages: DeadLetter[];
  };
  const stats = ((await control(args.dir, args.url, "/_nimbus/queues")) as Record<string, Counts>)[args.queue];
  const held = stats ? stats.depth + stats.inFlight + stats.delayed : messages.length;
  if (messages.length === 0) {
    output.out(`${args.queue} holds no dead-lettered messages.`);
  } else {
    output.out(
      `${args.queue}: ${messages.length} dead-lettered message${messages.length === 1 ? "" : "s"}, oldest first${messages.length === args.limit ? ` (the first ${args.limit}; --limit shows more)` : ""}`,
    );
    for (const message of messages) {
      output.out("");
      output.out(
        `${message.id}  died in ${message.queue} after ${message.attempts} attempt${message.attempts === 1 ? "" : "s"}, first seen ${message.firstSeen}`,
      );
      output.out(`  last error: ${message.lastError || "(none recorded)"}`);
      output.out(`  body: ${describeBody(message.body)}`);
    }
  }
  if (!args.purge) return 0;
  if (held === 0) {
    output.out(`Nothing to purge: ${args.queue} is empty.`);
    return 0;
  }
  const count = `${held} message${held === 1 ? "" : "s"}`;
  if (!args.yes) {
    const answer = await prompt(`Delete ${count} from ${args.queue} for good? [y/N] `);
    if (answer === undefined) {
      throw new NimbusError(
        "NIMBUS_CLI_CONFIRM",
        `--purge deletes ${count} from ${args.queue} and asks first, but there is no terminal to ask on. Pass --yes to purge without asking.`,
      );
    }
    if (!/^y(es)?$/i.test(answer.trim())) {
      output.out(`Kept ${count} in ${args.queue}.`);
      return 1;
    }
  }
  const { purged } = (await control(args.dir, args.url, `/_nimbus/queues/${queue}/purge`, { method: "POST" })) as {
    purged: number;
  };
  output.out(`purged ${purged} message${purged === 1 ? "" : "s"} from ${args.queue}`);
  return 0;
}

function describeBody(body: unknown): string {
  const bytes = (body as { base64?: unknown } | null)?.base64;
  if (typeof bytes === "string") return `(${Buffer.from(bytes, "base64").byteLength} bytes)`;
  return JSON.stringify(body);
}

/** Asks on stderr and reads stdin, only when both are a terminal. */
async function terminalPrompt(question: string): Promise<string | undefined> {
  if (!process.stdin.isTTY || !process.stderr.isTTY) return undefined;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}
