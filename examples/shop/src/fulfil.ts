import { defineHandler } from "@nimbus/runtime";
import type { fulfil, fulfilment } from "../nimbus.app";
import type { Receipt } from "./events";

/**
 * Fulfils paid orders: writes one receipt per order. Writing the same receipt twice is
 * harmless, so a redelivered message does no damage (queues deliver at least once).
 */
export default defineHandler<typeof fulfil, typeof fulfilment>({
  async queue(batch, env) {
    for (const message of batch.messages) {
      const order = message.body.detail;
      const receipt: Receipt = {
        orderId: order.id,
        email: order.email,
        total: order.total,
        fulfilledAt: new Date().toISOString(),
      };
      try {
        await env.receipts.put(`receipts/${order.id}.json`, JSON.stringify(receipt), {
          contentType: "application/json",
        });
        message.ack();
      } catch {
        message.retry();
      }
    }
  },
});
