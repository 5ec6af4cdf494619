import { defineHandler } from "@nimbus/runtime";
import type { report } from "../nimbus.app";
import type { Receipt } from "./events";

/** Every night: counts the receipts and their takings, and writes `reports/<date>.json`. */
export default defineHandler<typeof report>({
  async scheduled(controller, env) {
    let count = 0;
    let takings = 0;
    let cursor: string | undefined;
    do {
      const page = await env.receipts.list({ prefix: "receipts/", cursor });
      for (const { key } of page.objects) {
        const receipt = await env.receipts.get(key);
        if (!receipt) continue; // deleted since the listing
        takings += (await receipt.json<Receipt>()).total;
        count += 1;
      }
      cursor = page.truncated ? page.cursor : undefined;
    } while (cursor);
    const day = new Date(controller.scheduledTime).toISOString().slice(0, 10);
    await env.receipts.put(`reports/${day}.json`, JSON.stringify({ day, receipts: count, takings }), {
      contentType: "application/json",
    });
  },
});
