import { defineHandler, type EnvOf } from "@nimbus/runtime";
import type { report } from "../nimbus.app";
import type { Receipt } from "./events";

/** What a report holds: every receipt's key, how many, and the takings in cents. */
export interface Report {
  day: string;
  receipts: number;
  takings: number;
  keys: string[];
}

/** Lists every receipt, page by page, and adds them up. */
async function summarise(env: EnvOf<typeof report>, day: string): Promise<Report> {
  const summary: Report = { day, receipts: 0, takings: 0, keys: [] };
  let cursor: string | undefined;
  do {
    const page = await env.receipts.list({ prefix: "receipts/", cursor });
    for (const { key } of page.objects) {
      const receipt = await env.receipts.get(key);
      if (!receipt) continue; // deleted since the listing
      summary.takings += (await receipt.json<Receipt>()).total;
      summary.receipts += 1;
      summary.keys.push(key);
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return summary;
}

/**
 * Every night: writes `reports/<date>.json` with the receipts and their takings.
 * `GET /report` answers the same report for today, without writing it.
 */
export default defineHandler<typeof report>({
  async scheduled(controller, env) {
    const day = new Date(controller.scheduledTime).toISOString().slice(0, 10);
    const summary = await summarise(env, day);
    await env.receipts.put(`reports/${day}.json`, JSON.stringify(summary), { contentType: "application/json" });
  },

  async fetch(_request, env) {
    return Response.json(await summarise(env, new Date().toISOString().slice(0, 10)));
  },
});
