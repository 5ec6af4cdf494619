import { defineHandler } from "@nimbus/runtime";
import type { producer } from "../nimbus.app";
import type { PutRun } from "./run.ts";

/** `POST /put` puts the events on the bus; `POST /send` sends them to the queue directly. Answers the elapsed ms. */
export default defineHandler<typeof producer>({
  async fetch(request, env) {
    const run = (await request.json()) as PutRun;
    const direct = new URL(request.url).pathname === "/send";
    const started = performance.now();
    for (let sent = 0; sent < run.count; sent += run.batch) {
      const entries = Array.from({ length: Math.min(run.batch, run.count - sent) }, (_, i) => ({
        source: "bench.api",
        detailType: `Type${(sent + i) % run.rules}`,
        detail: { order: sent + i, amount: 10 + ((sent + i) % 90) },
      }));
      if (direct) await env.sink.sendBatch(entries.map((entry) => ({ body: entry })));
      else await env.events.put(entries);
    }
    return Response.json({ ms: performance.now() - started });
  },
});
