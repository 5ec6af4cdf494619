import { defineHandler } from "@nimbus/runtime";
import type { mailer, orders } from "../nimbus.app";
import type { Receipt } from "./events";

/**
 * Writes the customer's confirmation when a receipt appears (a bucket notification on
 * the `orders` bus). The mail lands in `mail/<order>.txt`: a stand-in for an email API.
 * A bus delivers at least once, so writing the same mail twice must be harmless, and is.
 */
export default defineHandler<typeof mailer, typeof orders>({
  async event(event, env) {
    if (event["detail-type"] !== "Object Created") return;
    const { key } = event.detail.object;
    const stored = await env.receipts.get(key);
    if (!stored) return; // deleted since: nothing to confirm
    const receipt = await stored.json<Receipt>();
    const total = (receipt.total / 100).toFixed(2);
    const text = `To: ${receipt.email}\nSubject: Your order ${receipt.orderId}\n\nThank you! We have fulfilled your order of ${total}.\n`;
    await env.receipts.put(`mail/${receipt.orderId}.txt`, text, { contentType: "text/plain; charset=utf-8" });
  },
});
