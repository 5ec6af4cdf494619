import { join } from "node:path";
import { createEmulator } from "@nimbus/emulator";
import { describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";
import { repoRoot } from "./support/cli.ts";
import { editApp } from "./support/suite.ts";

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

  it("send from a function: checked against the queue as the app has it now, also after a reload that kept the function's worker", async () => {
    const copy = await copyFixture("queue-schema");
    try {
      await using emu = await createEmulator({ root: copy.dir, watch: false });
      const post = (body: unknown) => emu.fetch("/orders", { method: "POST", body: JSON.stringify(body) });
      // Only the queue changes, so the function's worker keeps running through every reload.
      // Without a schema its sends are stored from the worker.
      const withSchema = await editApp(emu, copy.dir, (source) =>
        source.replace("schema: z.object({ id: z.string(), total: z.number().int().nonnegative() }),", ""),
      );
      expect((await post({ id: "o-1", total: -1 })).status).toBe(202);
      const defaultSize = await editApp(emu, copy.dir, (source) =>
        source.replace('app.queue("orders", {', 'app.queue("orders", {\n  maxMessageSize: "1KiB",'),
      );
      const tooLarge = await post({ id: "o-2".padEnd(2_000, "-"), total: 1 });
      expect(tooLarge.status).toBe(400);
      expect(await tooLarge.text()).toMatch(
        /^queue "orders": message 1 is [\d,]+ bytes; the queue's maxMessageSize is 1,024\./,
      );
      // With its schema back, the emulator checks the function's sends against it.
      await defaultSize();
      await withSchema();
      const refused = await post({ id: "o-3", total: -1 });
      expect(refused.status).toBe(400);
      expect(await refused.text()).toMatch(/^queue "orders": message 1 does not match the queue's schema \(total: /);
      expect((await post({ id: "o-4", total: 1 })).status).toBe(202);
      expect(emu.queue("orders").stats().depth).toBe(2);
    } finally {
      await copy.remove();
    }
  });
});
