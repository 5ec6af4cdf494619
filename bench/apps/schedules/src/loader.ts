import { defineHandler } from "@nimbus/runtime";
import type { loader } from "../nimbus.app";

let next = 0;

/** Each request puts 10 events on the bus, for the worker to consume. */
export default defineHandler<typeof loader>({
  async fetch(_request, env) {
    const entries = Array.from({ length: 10 }, () => ({
      source: "bench.load",
      detailType: "Load",
      detail: { n: next++ },
    }));
    const { ids } = await env.events.put(entries);
    return Response.json({ put: ids.length });
  },
});
