import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { App, deliveryQueues, resourcesOf } from "@nimbus/core";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import type { ScheduledController } from "../handler.ts";
import { deliveryQueuePlans, openDeliveries } from "./deliveries.ts";
import { startFunctionRole } from "./function-role.ts";
import { hostLogger } from "./log.ts";
import { provisionNats } from "./provision.ts";
import { type NatsServer, natsServerMissing, startNatsServer } from "./testing/nats-server.ts";

const missing = natsServerMissing();
if (missing) console.warn(`host delivery queue tests skipped: ${missing}`);

/** What the hosts' `scheduled` handler saw; the handler module reads it from globalThis. */
interface Runs {
  running: number;
  most: number;
  done: number[];
}
const runs: Runs = { running: 0, most: 0, done: [] };
(globalThis as { __nimbusDeliveriesTest?: Runs }).__nimbusDeliveriesTest = runs;

// Each run lasts a while, so two hosts that could overlap them would.
const handlerSource = `
const runs = () => globalThis.__nimbusDeliveriesTest;
export default {
  async scheduled(controller) {
    const r = runs();
    r.running++;
    r.most = Math.max(r.most, r.running);
    await new Promise((resolve) => setTimeout(resolve, 200));
    r.running--;
    r.done.push(controller.scheduledTime);
  },
};
`;

describe.skipIf(missing !== undefined)("host delivery queues", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let dir: string;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    dir = await mkdtemp(join(tmpdir(), "nimbus-deliveries-"));
    await writeFile(join(dir, "handler.mjs"), handlerSource);
  });

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    await nc?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("schedule: two function hosts consuming one schedule's delivery queue never run two ticks at once (§schedules/overlap/1)", async () => {
    const app = new App("overlap");
    const report = app.function("report", { handler: "./src/report.ts", concurrency: 10 });
    app.schedule("nightly", { cron: "0 3 * * *", target: report });
    const graph = app.toGraph();
    const prefix = "overlap";
    await provisionNats(nc, graph, { prefix });
    const spec = resourcesOf(graph, "function")[0]!.spec;
    for (let replica = 0; replica < 2; replica++) {
      const role = await startFunctionRole(
        {
          role: "function",
          graph,
          nats: { servers: [nats.url] },
          prefix,
          name: "report",
          spec,
          handler: join(dir, "handler.mjs"),
          port: 0,
          hostname: "127.0.0.1",
          functionUrls: {},
          secrets: {},
          missingSecrets: [],
        },
        hostLogger(() => {}),
      );
      stops.push(() => role.stop());
    }

    // Four ticks waiting at once, as a control role stores them.
    const plans = deliveryQueuePlans(graph, prefix);
    const queues = await openDeliveries({ nc, plans, prefix });
    const label = deliveryQueues(graph, { prefix })[0]!.route.label;
    const times = [1, 2, 3, 4].map((n) => Date.UTC(2030, 0, n, 3));
    await queues.sendWithIds(
      label,
      times.map((scheduledTime) => {
        const tick: ScheduledController = { schedule: "nightly", scheduledTime };
        return {
          format: "json",
          body: new TextEncoder().encode(JSON.stringify(tick)),
          msgID: `nightly:${scheduledTime}`,
          firstSeen: Date.now(),
        };
      }),
    );

    await vi.waitFor(() => expect(runs.done).toHaveLength(4), { timeout: 10_000 });
    expect(runs.most).toBe(1);
    expect([...runs.done].sort()).toEqual(times);
  }, 20_000);
});
