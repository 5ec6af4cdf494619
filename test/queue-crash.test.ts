import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { createEmulator } from "@nimbus/emulator";
import { afterEach, describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";
import { startDev } from "./support/dev.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

type Stats = { depth: number; inFlight: number; delayed: number; deadLettered: number };

/**
 * The messages left in the store's SQLite file, by the id in their body. Read straight from
 * the file, between the kill and the restart: the only exact record of which messages the
 * dead process had acked (they are gone) and which it had in flight (state 2, leased).
 */
function storedMessages(file: string): Map<string, { queue: string; state: number; attempts: number }> {
  const db = new DatabaseSync(file);
  try {
    const rows = db.prepare("SELECT queue, state, attempts, body FROM messages").all() as {
      queue: string;
      state: number;
      attempts: number;
      body: Uint8Array;
    }[];
    return new Map(
      rows.map((row) => [
        (JSON.parse(Buffer.from(row.body).toString()) as { id: string }).id,
        { queue: row.queue, state: row.state, attempts: row.attempts },
      ]),
    );
  } finally {
    db.close();
  }
}

// Emulator-only: reads the store's SQLite file between the kill and the restart (see
// test/conformance/README.md, "Emulator-only statements").
describe("queue durability: kill -9", () => {
  it("delivery: after a kill mid-delivery none the store had acked comes back, each leased one comes as its next attempt, and the dead-lettering is logged (§durability/1-3)", async () => {
    const copy = await copyFixture("queues");
    cleanups.push(copy.remove);
    const dev = await startDev(copy.dir);
    cleanups.push(() => {
      dev.child.kill("SIGKILL");
    });
    const control = dev.control;
    const stats = async () => (await (await control("/queues")).json()) as Record<string, Stats>;

    // 200 jobs, every fifth slow, so batches take a while; and one message on `once` (one
    // attempt only) that is still being handled when the process dies.
    const ids = Array.from({ length: 200 }, (_, i) => `job-${i}`);
    const bodies = ids.map((id, i) => (i % 5 === 0 ? { id, action: "slow", ms: 60 } : { id }));
    for (const messages of [bodies.slice(0, 100), bodies.slice(100)]) {
      const response = await control("/queues/jobs/messages?batch", {
        method: "POST",
        body: JSON.stringify({ messages }),
      });
      expect(response.status).toBe(201);
    }
    const held = await control("/queues/once/messages", {
      method: "POST",
      body: JSON.stringify({ id: "held", action: "slow", ms: 60_000 }),
    });
    expect(held.status).toBe(201);

    // Kill once some jobs are acked and some are not, with a batch in flight.
    for (const deadline = Date.now() + 20_000; ; ) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for deliveries: ${JSON.stringify(await stats())}`);
      const { jobs, once } = await stats();
      const left = jobs!.depth + jobs!.inFlight + jobs!.delayed;
      if (jobs!.inFlight > 0 && once!.inFlight === 1 && left <= 150 && left >= 50) break;
    }
    dev.child.kill("SIGKILL");
    await dev.exited;

    const state = join(copy.dir, ".nimbus");
    const stored = storedMessages(join(state, "queues", "queues.sqlite"));
    const acked = ids.filter((id) => !stored.has(id));
    const inFlight = [...stored].filter(([, m]) => m.state === 2).map(([id]) => id);
    expect(acked.length).toBeGreaterThanOrEqual(50);
    expect(inFlight.length).toBeGreaterThan(1);
    expect(stored.get("held")).toMatchObject({ queue: "once", state: 2, attempts: 1 });

    // Restarted on a manual clock: ready messages go at once, leases expire once the clock passes them.
    const emu = await createEmulator({ root: copy.dir, state, watch: false, clock: "manual" });
    cleanups.push(() => emu.close());
    await emu.idle();
    await emu.clock.advance("2m");
    await emu.idle();

    const results = emu.bucket("results");
    const records = new Map<string, { attempt: number; pid: number }[]>();
    let cursor: string | undefined;
    do {
      const page = await results.list({ prefix: "deliveries/", cursor });
      for (const object of page.objects) {
        const [, id, attempt] = object.key.split("/");
        const { pid } = JSON.parse(await (await results.get(object.key))!.text()) as { pid: number };
        records.set(id!, [...(records.get(id!) ?? []), { attempt: Number(attempt), pid }]);
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);

    // That every message is delivered and the stats end at zero is a conformance statement
    // (test/conformance/queues-durability.test.ts); this checks it against the store's own record.
    for (const id of acked) {
      expect(
        records.get(id)!.filter((r) => r.pid === process.pid),
        `${id}, acked before the kill, is not delivered again`,
      ).toEqual([]);
    }
    for (const [id, message] of stored) {
      if (message.queue !== "jobs") continue;
      const after = records.get(id)!.filter((r) => r.pid === process.pid);
      // A leased message's delivery in the dead process counted: the next one is its attempt + 1.
      expect(
        after.map((r) => r.attempt),
        `${id} after the restart`,
      ).toEqual([message.attempts + 1]);
    }

    // `held` was in flight on its only attempt: its lease expired, so it failed for good and the log says so.
    const said = emu.logs.map((entry) => entry.message).filter((message) => message.startsWith("queue once:"));
    expect(said).toEqual([expect.stringMatching(/^queue once: message [0-9a-f-]{36} .*moved to "once-dlq"/)]);
  }, 60_000);
});
