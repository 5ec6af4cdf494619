/**
 * The shop example end to end on host processes, as it runs deployed but without
 * containers: a host process per function and the control role, a real nats-server with
 * the rendered per-user configuration, and the Nimbus store service (the conformance
 * suite's `processes` driver). An order becomes a receipt and a mail; the nightly report
 * runs by trigger; a kill -9 of every process with orders in flight loses none of them.
 *
 * Skipped, with the reason, where nats-server is missing; under CI=true that fails.
 */
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { DeployedApp } from "./conformance/conformance.ts";
import { processesDriver } from "./conformance/drivers/processes.ts";
import { waitFor } from "./conformance/real-time.ts";
import { repoRoot } from "./support/cli.ts";

const skipReason = await processesDriver.unavailable();
if (skipReason !== undefined) {
  if (process.env.CI === "true") throw new Error(`CI=true and the processes target cannot run: ${skipReason}`);
  console.warn(`processes-shop.test.ts skipped: ${skipReason}`);
}

interface Order {
  id: string;
  total: number;
}

describe.skipIf(skipReason !== undefined)("the shop on host processes", () => {
  let shop: DeployedApp;

  const order = async (): Promise<Order> => {
    const response = await shop.fetch("/orders", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "ada@example.com", lines: [{ sku: "tea", quantity: 2, price: 1250 }] }),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as Order;
  };
  const text = async (key: string) => (await shop.bucket("receipts").get(key))?.text();
  /**
   * A kill -9 can catch an order's message leased to the `fulfilment` handler (a batch
   * filling, or running): it comes again once its lease ends, 30 s after it was handed out
   * (the queue's visibilityTimeout), so an order may wait that long plus a batch's second
   * and the hand-overs. An event leased to the bus router comes again after 5 s.
   */
  const afterLease = 30_000 + 15_000;
  const fulfilled = async (placed: Order) => {
    await waitFor(`the receipt of order ${placed.id}`, () => text(`receipts/${placed.id}.json`), afterLease);
    return waitFor(`the mail of order ${placed.id}`, () => text(`mail/${placed.id}.txt`), afterLease);
  };

  beforeAll(async () => {
    shop = await processesDriver.deploy(join(repoRoot, "examples/shop"));
  }, 120_000);
  afterAll(async () => {
    await shop?.close();
  }, 60_000);

  test("POST /orders: an order becomes a receipt (bus rule → queue → fulfil) and a mail (bucket notification → bus → mailer)", async () => {
    const placed = await order();
    const answer = await waitFor("the receipt through GET /orders/:id", async () => {
      const body = (await (await shop.fetch(`/orders/${placed.id}`)).json()) as {
        receipt: { orderId: string; total: number } | null;
      };
      return body.receipt ? body : undefined;
    });
    expect(answer.receipt).toMatchObject({ orderId: placed.id, total: 2500 });
    expect(await fulfilled(placed)).toContain(`Subject: Your order ${placed.id}`);
  }, 60_000);

  test("schedule trigger: the nightly report runs by trigger and writes reports/<day>.json", async () => {
    await fulfilled(await order());
    const { scheduledTime } = await shop.schedule("nightly-report").trigger();
    expect(Math.abs(scheduledTime - Date.now())).toBeLessThan(30_000);
    const day = new Date(scheduledTime).toISOString().slice(0, 10);
    const report = JSON.parse(await waitFor("the report", () => text(`reports/${day}.json`))) as { receipts: number };
    expect(report.receipts).toBeGreaterThanOrEqual(2);
  }, 60_000);

  test("kill -9 of every process with orders in flight: after the restart each order gets its receipt and its mail", async () => {
    const placed = await Promise.all(Array.from({ length: 5 }, () => order()));
    await shop.kill();
    for (const each of [...placed, await order()]) {
      expect(await fulfilled(each)).toContain(`Subject: Your order ${each.id}`);
    }
  }, 120_000);
});
