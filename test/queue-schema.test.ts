import { join } from "node:path";
import { createEmulator } from "@nimbus/emulator";
import { describe, expect, it } from "vitest";
import { repoRoot } from "./support/cli.ts";

describe("queue schema", () => {
  it("send: a body that does not match the queue's schema is refused, naming the queue and the field", async () => {
    await using emu = await createEmulator({ root: join(repoRoot, "test", "fixtures", "queue-schema"), watch: false });
    const orders = emu.queue("orders");
    await orders.send({ id: "o-1", total: 100 });
    await expect(orders.send({ id: "o-2", total: -1 })).rejects.toThrow(
      /^queue "orders": message 1 does not match the queue's schema \(total: .+\)\. Fix the body, or the schema in the app file\.$/,
    );
    await expect(
      orders.sendBatch([{ body: { id: "o-3", total: 1 } }, { body: { total: 2 } as never }]),
    ).rejects.toThrow(/message 2 does not match the queue's schema \(id: /);
    // Nothing of a refused batch is stored.
    expect(orders.stats().depth).toBe(1);
  });
});
