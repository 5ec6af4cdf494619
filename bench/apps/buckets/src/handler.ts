import { defineHandler } from "@nimbus/runtime";
import type { loops } from "../nimbus.app";
import { type LargeRun, runLarge, runSmall, type SmallRun } from "./loops.ts";

/**
 * `POST /run` times put or get loops of small objects; `POST /large` times a streamed
 * put and get of one large object and samples this process's memory at every chunk,
 * answering the peak growth over the start in each direction. All figures are measured
 * here, inside the handler.
 */
export default defineHandler<typeof loops>({
  async fetch(request, env) {
    const now = () => performance.now();
    if (new URL(request.url).pathname === "/run") {
      return Response.json(await runSmall(env.objects, (await request.json()) as SmallRun, now));
    }
    const start = process.memoryUsage();
    const peak = { put: { rss: 0, arrayBuffers: 0 }, get: { rss: 0, arrayBuffers: 0 } };
    const sample = (direction: "put" | "get") => {
      const { rss, arrayBuffers } = process.memoryUsage();
      const growth = peak[direction];
      growth.rss = Math.max(growth.rss, rss - start.rss);
      growth.arrayBuffers = Math.max(growth.arrayBuffers, arrayBuffers - start.arrayBuffers);
    };
    const result = await runLarge(env.objects, (await request.json()) as LargeRun, now, { sample });
    return Response.json({ ...result, memoryGrowth: peak });
  },
});
