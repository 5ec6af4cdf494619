// The shop in the emulator, on a clock the test moves: nothing time-driven happens
// (batch waits, retries, the nightly schedule) until `emu.clock.advance` says so.
import { fileURLToPath } from "node:url";
import { createEmulator, type Emulator } from "@nimbus/emulator/testing";
import { afterAll, beforeAll, expect, it } from "vitest";

let emu: Emulator;

beforeAll(async () => {
  // A fresh temporary state folder per run; the app's own .nimbus is left alone.
  emu = await createEmulator({ root: fileURLToPath(new URL("..", import.meta.url)), clock: "manual", watch: false });
});

afterAll(async () => {
  await emu?.close();
});

it("POST /orders: the order is fulfilled, its receipt written and the customer mailed", async () => {
  const placed = await emu.fetch("/orders", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ email: "ada@example.com", lines: [{ sku: "tea", quantity: 3, price: 450 }] }),
  });
  expect(placed.status).toBe(201);
  const { id, total } = (await placed.json()) as { id: string; total: number };
  expect(total).toBe(1350);

  // `fulfil` waits up to 1 s for a batch of paid orders: move the clock past it.
  await emu.clock.advance("1s");
  const shown = await (await emu.fetch(`/orders/${id}`)).json();
  expect(shown).toMatchObject({ receipt: { orderId: id, email: "ada@example.com", total: 1350 } });

  // The receipt's bucket notification had `mailer` write the confirmation.
  const mail = await emu.bucket("receipts").get(`mail/${id}.txt`);
  expect(await mail?.text()).toContain(`Subject: Your order ${id}`);
});

it("GET /orders/:id: an unknown order is 404", async () => {
  expect((await emu.fetch("/orders/nope")).status).toBe(404);
});
