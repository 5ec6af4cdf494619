// `nimbus dlq`: a dead-letter queue's messages, and purging them, against an emulator
// running in this process on the queue suite's app (its state in <app>/.nimbus, as nimbus dev keeps it).
import { join } from "node:path";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { main } from "nimbus";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";
import { runCliAsync } from "./support/cli.ts";

let emu: Emulator;
let dir: string;
let remove: () => Promise<void>;

beforeAll(async () => {
  const copy = await copyFixture("queues");
  ({ dir, remove } = copy);
  emu = await createEmulator({ root: dir, state: join(dir, ".nimbus"), clock: "manual", watch: false });
});

afterAll(async () => {
  await emu?.close();
  await remove?.();
});

/** Runs the CLI in this process (whose stdin, under vitest, is no terminal). */
async function dlq(args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const status = await main(["dlq", dir, ...args], { out: (t) => out.push(t), err: (t) => err.push(t) });
  return { status, stdout: out.join("\n"), stderr: err.join("\n") };
}

describe("nimbus dlq", () => {
  it("dlq: lists each dead-lettered message with where it died, its attempts, first-seen time and last error", async () => {
    const sentAt = new Date(emu.clock.now()).toISOString();
    await emu.queue("once").send({ id: "dead-1", action: "throw" });
    await emu.idle();
    const [message] = emu.queue("once-dlq").deadLettered();

    const listed = await dlq(["once-dlq"]);
    expect(listed.stderr).toBe("");
    expect(listed.status).toBe(0);
    expect(listed.stdout).toBe(
      [
        "once-dlq: 1 dead-lettered message, oldest first",
        "",
        `${message!.id}  died in once after 1 attempt, first seen ${sentAt}`,
        "  last error: Error: job dead-1 failed",
        '  body: {"id":"dead-1","action":"throw"}',
      ].join("\n"),
    );
    expect((await dlq(["jobs-dlq"])).stdout).toBe("jobs-dlq holds no dead-lettered messages.");
    expect((await dlq(["nope"])).stderr).toMatch(/^✖ The app has no queue "nope" \(its queues: /);
  });

  it("dlq --purge: without a terminal and without --yes refuses, saying so; --yes empties the queue", async () => {
    await emu.queue("once").send({ id: "dead-2", action: "throw" });
    await emu.idle();
    const held = emu.queue("once-dlq").stats().depth;
    expect(held).toBeGreaterThan(0);

    // A real process whose stdin is no terminal.
    const refused = await runCliAsync(["dlq", dir, "once-dlq", "--purge"]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe(
      `✖ --purge deletes ${held} message${held === 1 ? "" : "s"} from once-dlq and asks first, but there is no terminal to ask on. Pass --yes to purge without asking.\n`,
    );
    expect(emu.queue("once-dlq").stats().depth).toBe(held);

    const purged = await runCliAsync(["dlq", dir, "once-dlq", "--purge", "--yes"]);
    expect(purged.stderr).toBe("");
    expect(purged.status).toBe(0);
    expect(purged.stdout).toMatch(new RegExp(`\npurged ${held} messages? from once-dlq\n$`));
    expect(emu.queue("once-dlq").stats()).toMatchObject({ depth: 0, inFlight: 0, delayed: 0 });
    expect((await dlq(["once-dlq", "--purge"])).stdout).toBe(
      "once-dlq holds no dead-lettered messages.\nNothing to purge: once-dlq is empty.",
    );
  });
});
