import { connect, type NatsConnection } from "@nats-io/transport-node";
import { App, type Graph, type NimbusEvent } from "@nimbus/core";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { z } from "zod";
import { startControlRole } from "./control-role.ts";
import { putEvents, storedBodies } from "./host.test-helper.ts";
import { hostLogger } from "./log.ts";
import { provisionNats } from "./provision.ts";
import { QueueAdmin } from "./queue-admin.ts";
import { type NatsServer, natsServerMissing, startNatsServer } from "./testing/nats-server.ts";

const missing = natsServerMissing();
if (missing) console.warn(`host queue admin tests skipped: ${missing}`);

describe.skipIf(missing !== undefined)("host queue admin: redrive of refused events", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let prefixes = 0;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
  });
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
  });
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  /** Provisions `graph` under a prefix of its own and runs its control role. */
  const deploy = async (graph: Graph) => {
    const prefix = `r${++prefixes}`;
    await provisionNats(nc, graph, { prefix });
    const role = await startControlRole(
      { role: "control", graph, nats: { servers: [nats.url] }, prefix, port: 0, hostname: "127.0.0.1" },
      hostLogger(() => {}),
    );
    stops.push(() => role.stop());
    return prefix;
  };

  const put = (graph: Graph, prefix: string, bus: string, entries: Parameters<typeof putEvents>[4]) =>
    putEvents(nc, graph, prefix, bus, entries);
  /** The events stored in queue `queue`'s stream, in stream order. */
  const events = (queue: string, prefix: string) => storedBodies<NimbusEvent>(nc, queue, prefix);

  /** The app: a queue target that refuses large events, at `size`. */
  const sized = (size: "1KiB" | "64KiB") => {
    const app = new App("sized");
    const orders = app.bus("orders", { deadLetter: true });
    const tiny = app.queue("tiny", { maxMessageSize: size });
    orders.rule("big", { pattern: { source: ["shop"] }, targets: [tiny] });
    return app.toGraph();
  };

  test("redrive: an event a queue target refused goes back to that queue; refused again, straight back to the dead-letter queue with 1 attempt (§buses/retries/5, /3)", async () => {
    const graph = sized("1KiB");
    const prefix = await deploy(graph);
    const [id] = await put(graph, prefix, "orders", [
      { source: "shop", detailType: "Big", detail: { text: "x".repeat(2_000) } },
    ]);
    const admin = await QueueAdmin.open({ nc, graph, prefix });
    await vi.waitFor(async () => expect(await admin.deadLettered("orders-dlq")).toHaveLength(1), { timeout: 10_000 });

    expect(await admin.redrive("orders-dlq")).toEqual({ "orders/big → queue tiny": 1 });
    expect(await admin.deadLettered("orders-dlq")).toEqual([
      expect.objectContaining({
        queue: "orders/big → queue tiny",
        attempts: 1,
        body: expect.objectContaining({ id }),
        lastError: expect.stringContaining("maxMessageSize is 1,024"),
      }),
    ]);
    expect(await events("tiny", prefix)).toEqual([]);

    // The queue is made to fit (a deploy raises its maxMessageSize): the next redrive delivers it there.
    const fitted = sized("64KiB");
    await provisionNats(nc, fitted, { prefix });
    const fixedAdmin = await QueueAdmin.open({ nc, graph: fitted, prefix });
    expect(await fixedAdmin.redrive("orders-dlq")).toEqual({ "orders/big → queue tiny": 1 });
    expect((await events("tiny", prefix)).map((event) => event.id)).toEqual([id]);
    expect(await fixedAdmin.deadLettered("orders-dlq")).toEqual([]);
  }, 20_000);

  test("redrive: an event a bus target refused is routed again by that bus, its buses counted afresh from the bus it died at; a bus that refuses it again sends it back (§buses/retries/5, /3)", async () => {
    const app = new App("hops");
    const buses = [1, 2, 3, 4, 5, 6].map((n) => app.bus(`b${n}`, n === 5 ? { deadLetter: true } : {}));
    const typed = app.bus("typed", { schema: { Typed: z.object({ id: z.string() }) } });
    const seen6 = app.queue("seen-at-6");
    for (let n = 0; n < 5; n++) buses[n]!.rule("next", { pattern: { source: ["chain"] }, targets: [buses[n + 1]!] });
    buses[4]!.rule("typed", { pattern: { source: ["chain"] }, targets: [typed] });
    buses[5]!.rule("keep", { pattern: { source: ["chain"] }, targets: [seen6] });
    const graph = app.toGraph();
    const prefix = await deploy(graph);

    const [id] = await put(graph, prefix, "b1", [{ source: "chain", detailType: "Hop", detail: {} }]);
    const admin = await QueueAdmin.open({ nc, graph, prefix });
    await vi.waitFor(async () => expect(await admin.deadLettered("b5-dlq")).toHaveLength(2), { timeout: 10_000 });
    expect((await admin.deadLettered("b5-dlq")).map((letter) => letter.queue).sort()).toEqual([
      "b5/next → bus b6",
      "b5/typed → bus typed",
    ]);

    expect(await admin.redrive("b5-dlq")).toEqual({ "b5/next → bus b6": 1, "b5/typed → bus typed": 1 });
    // b6 takes it now (b5 → b6: two buses) and hands it to its queue, with its id.
    await vi.waitFor(async () => expect((await events("seen-at-6", prefix)).map((event) => event.id)).toEqual([id]), {
      timeout: 10_000,
    });
    // `typed` refuses it again: back in b5's dead-letter queue at once, 1 attempt.
    await vi.waitFor(
      async () =>
        expect(await admin.deadLettered("b5-dlq")).toEqual([
          expect.objectContaining({
            queue: "b5/typed → bus typed",
            attempts: 1,
            body: expect.objectContaining({ id }),
            lastError: expect.stringContaining("Hop"),
          }),
        ]),
      { timeout: 10_000 },
    );
  }, 20_000);
});
