import { join } from "node:path";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emulatorEnv, repoRoot, runCliAsync } from "./support/cli.ts";

let emu: Emulator;

beforeAll(async () => {
  // A temporary state folder: the example's own .nimbus is left alone.
  emu = await createEmulator({ root: join(repoRoot, "examples", "shop"), watch: false, clock: "manual" });
});

afterAll(async () => {
  await emu?.close();
});

const order = (id: string, total: number) => ({
  id,
  email: `${id}@example.com`,
  lines: [{ sku: "mug", quantity: 1, price: total }],
  total,
  paidAt: "2026-11-27T10:00:00.000Z",
});

describe("the shop example: receipts in the bucket", () => {
  it("orders and report: an order shows its receipt, and the report lists every receipt with the takings", async () => {
    const receipts = emu.bucket("receipts");
    for (const [id, total] of [
      ["o-1", 1250],
      ["o-2", 990],
    ] as const) {
      await receipts.put(`orders/${id}.json`, JSON.stringify(order(id, total)), { contentType: "application/json" });
      // What `fulfil` writes for a paid order.
      await receipts.put(
        `receipts/${id}.json`,
        JSON.stringify({ orderId: id, email: `${id}@example.com`, total, fulfilledAt: "2026-11-27T10:01:00.000Z" }),
        { contentType: "application/json" },
      );
    }
    await receipts.put("orders/o-3.json", JSON.stringify(order("o-3", 500)), { contentType: "application/json" });

    const shown = await emu.fetch("/orders/o-1");
    expect(shown.status).toBe(200);
    expect(await shown.json()).toEqual({
      order: order("o-1", 1250),
      receipt: { orderId: "o-1", email: "o-1@example.com", total: 1250, fulfilledAt: "2026-11-27T10:01:00.000Z" },
    });
    expect(await (await emu.fetch("/orders/o-3")).json()).toMatchObject({ receipt: null });
    expect((await emu.fetch("/orders/nope")).status).toBe(404);

    const report = await emu.fetch("/report");
    expect(await report.json()).toEqual({
      day: new Date().toISOString().slice(0, 10),
      receipts: 2,
      takings: 2240,
      keys: ["receipts/o-1.json", "receipts/o-2.json"],
    });
  });
});

describe("the shop example: fulfilment", () => {
  it("send: `nimbus send … fulfilment <event>` leads fulfil to write the receipt", async () => {
    const paid = { source: "shop.api", "detail-type": "OrderPaid", detail: order("o-9", 4200) };
    // The real CLI, against this emulator (it finds `nimbus dev` through .nimbus/emulator.json, or --url).
    const sent = await runCliAsync(["send", "--url", emu.url, "fulfilment", JSON.stringify(paid)], {
      env: emulatorEnv(emu),
    });
    expect(sent.stderr).toBe("");
    expect(sent.stdout).toMatch(/^sent [0-9a-f-]{36} to fulfilment\n$/);
    expect(sent.status).toBe(0);
    // fulfil takes batches of up to 10 and waits up to 1 s for one to fill.
    await emu.idle();
    expect(await emu.bucket("receipts").head("receipts/o-9.json")).toBeNull();
    await emu.clock.advance("1s");
    const receipt = await emu.bucket("receipts").get("receipts/o-9.json");
    expect(await receipt?.json()).toMatchObject({ orderId: "o-9", email: "o-9@example.com", total: 4200 });
    expect(emu.queue("fulfilment").stats()).toEqual({ depth: 0, inFlight: 0, delayed: 0, deadLettered: 0 });

    const queues = await runCliAsync(["queues", "--url", emu.url], { env: emulatorEnv(emu) });
    expect(queues.stdout).toMatch(/^queue\s+depth\s+in flight\s+delayed\s+dead-lettered\n/);
    expect(queues.stdout).toMatch(/\nfulfilment\s+0\s+0\s+0\s+0\n/);
  });
});

describe("the shop example: end to end", () => {
  it("order: POST /orders → OrderPaid on the bus → fulfilment → receipt → notification → mail, then the nightly report", async () => {
    const placed = await emu.fetch("/orders", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "ada@example.com", lines: [{ sku: "tea", quantity: 3, price: 450 }] }),
    });
    expect(placed.status).toBe(201);
    const { id, total } = (await placed.json()) as { id: string; total: number };
    expect(total).toBe(1350);

    // The put stored the event for the `paid` rule's queue before the API answered.
    await emu.idle();
    expect(emu.queue("fulfilment").stats().depth).toBe(1);
    const routed = emu.logs.find(
      (entry) => entry.message.startsWith("bus orders: event") && entry.message.includes("OrderPaid"),
    );
    expect(routed?.message).toMatch(/\(OrderPaid from shop\.api\) matched orders\/paid$/);

    // fulfil waits up to 1 s for a batch; the receipt it writes is announced on the bus,
    // and the `receipt-written` rule has the mailer confirm it: all within this step.
    await emu.clock.advance("1s");
    const shown = (await (await emu.fetch(`/orders/${id}`)).json()) as { receipt: { total: number } | null };
    expect(shown.receipt).toMatchObject({ orderId: id, email: "ada@example.com", total: 1350 });
    const notified = emu.logs.find(
      (entry) =>
        entry.message.startsWith("bus orders: event") && entry.message.includes("(Object Created from nimbus.bucket)"),
    );
    expect(notified?.message).toMatch(/matched orders\/receipt-written$/);
    const mail = await (await emu.bucket("receipts").get(`mail/${id}.txt`))?.text();
    expect(mail).toContain(`Subject: Your order ${id}`);
    expect(mail).toContain("fulfilled your order of 13.50");

    // The nightly report runs at 02:00 in Berlin; move the clock there.
    const next = emu.schedule("nightly-report").next()!;
    expect(new Intl.DateTimeFormat("en-GB", { timeZone: "Europe/Berlin", timeStyle: "short" }).format(next)).toBe(
      "02:00",
    );
    await emu.clock.advance(next.getTime() - emu.clock.now());
    const day = next.toISOString().slice(0, 10);
    const report = await emu.bucket("receipts").get(`reports/${day}.json`);
    const summary = (await report?.json()) as { receipts: number; takings: number; keys: string[] };
    expect(summary.keys).toContain(`receipts/${id}.json`);
    expect(summary.takings).toBeGreaterThanOrEqual(1350);
    expect(emu.queue("orders-dlq").stats()).toEqual({ depth: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
    // The bus's dead-letter queue is listed with the other queues.
    const queues = await runCliAsync(["queues", "--url", emu.url], { env: emulatorEnv(emu) });
    expect(queues.stdout).toMatch(/\norders-dlq\s+0\s+0\s+0\s+0\n/);
  });
});
