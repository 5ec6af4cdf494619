import { cp, mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dlqCommand } from "./dlq.ts";

// A copy of the queue suite's app inside test/, so its imports resolve as for an author.
const repo = join(import.meta.dirname, "..", "..", "..", "..");
let dir: string;
let emu: Emulator;

beforeAll(async () => {
  dir = await mkdtemp(join(repo, "test", ".tmp-dlq-prompt-"));
  await cp(join(repo, "test", "fixtures", "queues"), dir, { recursive: true });
  emu = await createEmulator({ root: dir, state: join(dir, ".nimbus"), clock: "manual", watch: false });
});

afterAll(async () => {
  await emu?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("nimbus dlq on a terminal", () => {
  it("dlq --purge: asks first; anything but y keeps the messages, y deletes them", async () => {
    await emu.queue("once").send({ id: "dead-tty", action: "throw" });
    await emu.idle();
    const out: string[] = [];
    const output = { out: (t: string) => out.push(t), err: (t: string) => out.push(t) };
    const asked: string[] = [];
    const args = { dir, queue: "once-dlq", purge: true, yes: false, limit: 100 };

    const no = await dlqCommand(args, output, async (question) => {
      asked.push(question);
      return "n";
    });
    expect(no).toBe(1);
    expect(asked).toEqual(["Delete 1 message from once-dlq for good? [y/N] "]);
    expect(out.at(-1)).toBe("Kept 1 message in once-dlq.");
    expect(emu.queue("once-dlq").stats().depth).toBe(1);

    expect(await dlqCommand(args, output, async () => "")).toBe(1);
    expect(emu.queue("once-dlq").stats().depth).toBe(1);

    expect(await dlqCommand(args, output, async () => "y")).toBe(0);
    expect(out.at(-1)).toBe("purged 1 message from once-dlq");
    expect(emu.queue("once-dlq").stats().depth).toBe(0);
  });
});
