import { defineHandler } from "@nimbus/runtime";
import type { worker } from "../nimbus.app";

/** Consumes the load's events, with a little work per message (hashing its body). */
export default defineHandler<typeof worker>({
  async queue(batch) {
    for (const message of batch.messages) {
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(JSON.stringify(message.body)));
    }
  },
});
