import { defineHandler } from "@nimbus/runtime";
import type { api } from "../nimbus.app";
import type { OrderLine, OrderPaid, Receipt } from "./events";

/**
 * The order API. `POST /orders` takes `{ email, lines: [{ sku, quantity, price }] }`,
 * stores the order and announces it as paid; `GET /orders/:id` returns the order and,
 * once fulfilment has run, its receipt.
 */
export default defineHandler<typeof api>({
  async fetch(request, env, ctx) {
    if (request.method === "POST") {
      const input = parseOrder(await request.json().catch(() => undefined));
      if (typeof input === "string") return Response.json({ error: input }, { status: 400 });
      const order: OrderPaid = {
        id: crypto.randomUUID(),
        email: input.email,
        lines: input.lines,
        total: input.lines.reduce((sum, line) => sum + line.quantity * line.price, 0),
        paidAt: new Date().toISOString(),
      };
      await env.receipts.put(`orders/${order.id}.json`, JSON.stringify(order), { contentType: "application/json" });
      await env.orders.put([{ source: "shop.api", detailType: "OrderPaid", detail: order }]);
      return Response.json(order, { status: 201, headers: { location: `/orders/${order.id}` } });
    }

    const id = ctx.params.id ?? "";
    const stored = await env.receipts.get(`orders/${id}.json`);
    if (!stored) return Response.json({ error: `no order ${id}` }, { status: 404 });
    const receipt = await env.receipts.get(`receipts/${id}.json`);
    return Response.json({
      order: await stored.json<OrderPaid>(),
      receipt: receipt ? await receipt.json<Receipt>() : null,
    });
  },
});

function parseOrder(body: unknown): { email: string; lines: OrderLine[] } | string {
  if (typeof body !== "object" || body === null) return "expected a JSON object { email, lines }";
  const { email, lines } = body as { email?: unknown; lines?: unknown };
  if (typeof email !== "string" || !email.includes("@")) return "expected email to be an address";
  if (!Array.isArray(lines) || lines.length === 0) return "expected lines to be a non-empty list";
  for (const line of lines as Partial<OrderLine>[]) {
    const valid =
      typeof line?.sku === "string" &&
      Number.isInteger(line.quantity) &&
      (line.quantity ?? 0) > 0 &&
      Number.isInteger(line.price) &&
      (line.price ?? -1) >= 0;
    if (!valid) return "expected each line to be { sku: string, quantity: positive integer, price: cents }";
  }
  return { email, lines: lines as OrderLine[] };
}
