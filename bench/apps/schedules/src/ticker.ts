import { defineHandler } from "@nimbus/runtime";
import type { ticker } from "../nimbus.app";

/** Records each tick's lateness: from when it was due to when its handler started, in ms. */
export default defineHandler<typeof ticker>({
  async scheduled(controller, env) {
    const late = Date.now() - controller.scheduledTime;
    await env.results.put(`ticks/${controller.scheduledTime}`, String(late));
  },
});
