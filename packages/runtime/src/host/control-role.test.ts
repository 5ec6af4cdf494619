import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  App,
  busNames,
  deliveryQueues,
  type Graph,
  type NimbusEvent,
  natsPermissions,
  nextRuns,
  renderNatsConfig,
  resourcesOf,
  scheduleExpressionOf,
  scheduleTickNames,
  scheduleTriggerSubject,
} from "@nimbus/core";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import type { ScheduledController } from "../handler.ts";
import { jetStreamBusTransport } from "./bus.ts";
import { type ControlRole, type ControlRoleHooks, startControlRole } from "./control-role.ts";
import { type FunctionRole, startFunctionRole } from "./function-role.ts";
import { connectAsAdmin, natsPasswords, putEvents, spawnHost, storedBodies } from "./host.test-helper.ts";
import { hostLogger, type LogEntry } from "./log.ts";
import { provisionNats } from "./provision.ts";
import { QueueAdmin } from "./queue-admin.ts";
import { type NatsServer, natsServerMissing, startNatsServer } from "./testing/nats-server.ts";

const missing = natsServerMissing();
if (missing) console.warn(`host control role tests skipped: ${missing}`);

/** What the in-process function hosts' handler saw; the handler module reads it from globalThis. */
interface Seen {
  events: NimbusEvent[];
  ticks: ScheduledController[];
}
const seen: Seen = { events: [], ticks: [] };
(globalThis as { __nimbusControlTest?: Seen }).__nimbusControlTest = seen;

const handlerSource = `
const seen = () => globalThis.__nimbusControlTest;
export default {
  async event(event) {
    seen().events.push(event);
    if (event["detail-type"] === "Fail") throw new Error("this handler fails on Fail");
  },
  async scheduled(controller) { seen().ticks.push(controller); },
};
`;

/** A log that keeps its lines. */
function collectingLogger() {
  const lines: LogEntry[] = [];
  const logger = hostLogger((line) => lines.push(JSON.parse(line) as LogEntry));
  return { logger, lines };
}

describe.skipIf(missing !== undefined)("host control role", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let dir: string;
  let handler: string;
  let prefixes = 0;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    jsm = await jetstreamManager(nc);
    dir = await mkdtemp(join(tmpdir(), "nimbus-control-"));
    handler = join(dir, "handler.mjs");
    await writeFile(handler, handlerSource);
  });

  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop();
    seen.events.length = 0;
    seen.ticks.length = 0;
  });

  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Provisions `graph` under a prefix of its own, so tests never share a stream. */
  const provision = async (graph: Graph) => {
    const prefix = `t${++prefixes}`;
    await provisionNats(nc, graph, { prefix });
    return prefix;
  };

  const control = async (graph: Graph, prefix: string, hooks: ControlRoleHooks = {}) => {
    const { logger, lines } = collectingLogger();
    const role: ControlRole = await startControlRole(
      { role: "control", graph, nats: { servers: [nats.url] }, prefix, port: 0, hostname: "127.0.0.1" },
      logger,
      hooks,
    );
    stops.push(() => role.stop());
    return { role, lines };
  };

  const functionHost = async (graph: Graph, prefix: string, name: string) => {
    const fn = resourcesOf(graph, "function").find((resource) => resource.name === name)!;
    const role: FunctionRole = await startFunctionRole(
      {
        role: "function",
        graph,
        nats: { servers: [nats.url] },
        prefix,
        name,
        spec: fn.spec,
        handler,
        port: 0,
        hostname: "127.0.0.1",
        functionUrls: {},
        secrets: {},
        missingSecrets: [],
      },
      collectingLogger().logger,
    );
    stops.push(() => role.stop());
    return role;
  };

  const bodies = (queue: string, prefix: string) => storedBodies(nc, queue, prefix);
  const put = (graph: Graph, prefix: string, bus: string, entries: Parameters<typeof putEvents>[4]) =>
    putEvents(nc, graph, prefix, bus, entries);

  test("route: an event matching two rules lands in a queue target and a function's event handler (§buses/delivery/1, /2, matching/3)", async () => {
    const app = new App("routed");
    const orders = app.bus("orders");
    const audit = app.queue("audit");
    const fulfil = app.function("fulfil", { handler: "./src/fulfil.ts" });
    orders.rule("audit", { pattern: { source: ["shop"] }, targets: [audit] });
    orders.rule("paid", { pattern: { "detail-type": ["OrderPaid"] }, targets: [fulfil] });
    orders.rule("other", { pattern: { source: ["elsewhere"] }, targets: [audit] });
    const graph = app.toGraph();
    const prefix = await provision(graph);
    const { lines } = await control(graph, prefix);
    await functionHost(graph, prefix, "fulfil");

    const [id] = await put(graph, prefix, "orders", [
      { source: "shop", detailType: "OrderPaid", detail: { order: 7 } },
    ]);

    await vi.waitFor(() => expect(seen.events.map((event) => event.id)).toEqual([id]), { timeout: 10_000 });
    await vi.waitFor(async () => expect(await bodies("audit", prefix)).toHaveLength(1), { timeout: 10_000 });
    const [stored] = (await bodies("audit", prefix)) as NimbusEvent[];
    expect(stored).toMatchObject({ id, source: "shop", "detail-type": "OrderPaid", detail: { order: 7 } });
    expect(seen.events[0]).toEqual(stored);
    expect(
      lines.some(
        (line) => line.message.includes(`event ${id}`) && line.message.endsWith("matched orders/audit, orders/paid"),
      ),
    ).toBe(true);
  }, 20_000);

  test("route: a queue target the event does not fit sends it to the bus's dead-letter queue at once, 1 attempt (§buses/retries/3)", async () => {
    const app = new App("refused");
    const orders = app.bus("orders", { deadLetter: true });
    const tiny = app.queue("tiny", { maxMessageSize: "1KiB" });
    orders.rule("big", { pattern: { source: ["shop"] }, targets: [tiny] });
    const graph = app.toGraph();
    const prefix = await provision(graph);
    await control(graph, prefix);

    const [id] = await put(graph, prefix, "orders", [
      { source: "shop", detailType: "Big", detail: { text: "x".repeat(2_000) } },
    ]);

    const admin = await QueueAdmin.open({ nc, graph, prefix });
    await vi.waitFor(async () => expect(await admin.deadLettered("orders-dlq")).toHaveLength(1), { timeout: 10_000 });
    const [letter] = await admin.deadLettered("orders-dlq");
    expect(letter).toMatchObject({ queue: "orders/big → queue tiny", attempts: 1, body: { id } });
    expect(letter!.lastError).toContain("maxMessageSize");
    expect(await bodies("tiny", prefix)).toEqual([]);
  }, 20_000);

  test("route: a bus target gets the event with its id; a cycle ends; a 6th bus refuses it into the dead-letter queue (§buses/delivery/3, /4, retries/3)", async () => {
    const app = new App("chain");
    const buses = [1, 2, 3, 4, 5, 6].map((n) => app.bus(`b${n}`, n === 5 ? { deadLetter: true } : {}));
    const seen2 = app.queue("seen-at-2");
    const seen6 = app.queue("seen-at-6");
    for (let n = 0; n < 5; n++) buses[n]!.rule("next", { pattern: { source: ["chain"] }, targets: [buses[n + 1]!] });
    buses[1]!.rule("keep", { pattern: { source: ["chain"] }, targets: [seen2] });
    buses[2]!.rule("back", { pattern: { source: ["chain"] }, targets: [buses[0]!] });
    buses[5]!.rule("keep", { pattern: { source: ["chain"] }, targets: [seen6] });
    const graph = app.toGraph();
    const prefix = await provision(graph);
    const { lines } = await control(graph, prefix);

    const [id] = await put(graph, prefix, "b1", [{ source: "chain", detailType: "Hop", detail: {} }]);

    const admin = await QueueAdmin.open({ nc, graph, prefix });
    await vi.waitFor(async () => expect(await admin.deadLettered("b5-dlq")).toHaveLength(1), { timeout: 10_000 });
    const [letter] = await admin.deadLettered("b5-dlq");
    expect(letter).toMatchObject({ queue: "b5/next → bus b6", attempts: 1, body: { id } });
    expect(letter!.lastError).toContain("passed through 5 buses (b1 → b2 → b3 → b4 → b5)");
    expect(((await bodies("seen-at-2", prefix)) as NimbusEvent[]).map((event) => event.id)).toEqual([id]);
    expect(await bodies("seen-at-6", prefix)).toEqual([]);
    expect(lines.some((line) => line.message.includes("came back through b1 → b2 → b3 → b1"))).toBe(true);
  }, 20_000);

  test("route: a router that dies after storing an event's deliveries and before its ack delivers nothing twice (§buses/putting/5)", async () => {
    const app = new App("redelivered");
    const orders = app.bus("orders");
    const audit = app.queue("audit");
    const fulfil = app.function("fulfil", { handler: "./src/fulfil.ts" });
    orders.rule("all", { pattern: { source: ["shop"] }, targets: [audit, fulfil] });
    const graph = app.toGraph();
    const prefix = await provision(graph);
    const names = busNames("orders", { prefix });
    // An ack wait shorter than the 2.5 s at which a running router renews its lease, so the
    // event comes again as from a router that died, soon and well inside the duplicate window.
    await jsm.consumers.update(names.stream, names.router, { ack_wait: 1_000_000_000 });
    const { promise: frozen, resolve: thaw } = Promise.withResolvers<void>();
    const { promise: stored, resolve: storedAll } = Promise.withResolvers<void>();
    // The first router stores every delivery, then stops pulling and hangs before its ack: a
    // process that died there (its ack never comes, it takes nothing more).
    let first: ControlRole | undefined;
    let stopping: Promise<void> | undefined;
    first = (
      await control(graph, prefix, {
        beforeAck: async () => {
          stopping = first!.stop();
          storedAll();
          await frozen;
          throw new Error("this router died before its ack");
        },
      })
    ).role;
    stops.push(async () => {
      thaw();
      await stopping;
    });
    await functionHost(graph, prefix, "fulfil");

    const [id] = await put(graph, prefix, "orders", [{ source: "shop", detailType: "OrderPaid", detail: {} }]);
    await stored;
    const second = await control(graph, prefix);
    await vi.waitFor(() => expect(second.lines.some((line) => line.message.includes(`event ${id}`))).toBe(true), {
      timeout: 10_000,
    });
    await vi.waitFor(
      async () => {
        const info = await jsm.consumers.info(names.stream, names.router);
        expect(info.num_ack_pending).toBe(0);
      },
      { timeout: 10_000 },
    );
    thaw();
    const deliveryStream = deliveryQueues(graph, { prefix })[0]!.names.stream;
    // Everything stored was delivered: the delivery queue is empty, so a duplicate would have reached the handler.
    await vi.waitFor(
      async () => {
        expect((await jsm.streams.info(deliveryStream)).state.messages).toBe(0);
        expect(seen.events.length).toBeGreaterThan(0);
      },
      { timeout: 10_000 },
    );
    expect(seen.events.map((event) => event.id)).toEqual([id]);
    expect(((await bodies("audit", prefix)) as NimbusEvent[]).map((event) => event.id)).toEqual([id]);
  }, 20_000);

  test("deliver: a function target that keeps failing is retried with the bus's policy, then dead-lettered under its route (§buses/retries/1, /2)", async () => {
    const app = new App("failing");
    const orders = app.bus("orders", {
      deadLetter: true,
      delivery: { maxAttempts: 2, backoff: { initial: "0s", max: "0s" } },
    });
    const fulfil = app.function("fulfil", { handler: "./src/fulfil.ts" });
    orders.rule("fail", { pattern: { "detail-type": ["Fail"] }, targets: [fulfil] });
    const graph = app.toGraph();
    const prefix = await provision(graph);
    await control(graph, prefix);
    await functionHost(graph, prefix, "fulfil");

    const [id] = await put(graph, prefix, "orders", [{ source: "shop", detailType: "Fail", detail: {} }]);

    const admin = await QueueAdmin.open({ nc, graph, prefix });
    await vi.waitFor(async () => expect(await admin.deadLettered("orders-dlq")).toHaveLength(1), { timeout: 10_000 });
    const [letter] = await admin.deadLettered("orders-dlq");
    expect(letter).toMatchObject({ queue: "orders/fail → function fulfil", attempts: 2, body: { id } });
    expect(letter!.lastError).toContain("this handler fails on Fail");
    expect(seen.events.map((event) => event.id)).toEqual([id, id]);
  }, 20_000);

  test("schedule: a tick claimed but not recorded as stored (a stop in between) is published again at the next start (§schedules/restarts/1)", async () => {
    const app = new App("claimed");
    const ticks = app.queue("ticks");
    app.schedule("hourly", { every: "1h", target: ticks });
    const graph = app.toGraph();
    const prefix = await provision(graph);
    const tick = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const { bucket } = scheduleTickNames({ prefix });
    await nc.request(`$KV.${bucket}.hourly`, JSON.stringify({ tick, fired: false, claimedAt: Date.now() }));

    const { lines } = await control(graph, prefix);

    await vi.waitFor(
      async () => expect(await bodies("ticks", prefix)).toEqual([{ schedule: "hourly", scheduledTime: tick }]),
      {
        timeout: 5_000,
      },
    );
    expect(lines.some((line) => line.message.includes("was claimed but not recorded as stored"))).toBe(true);
  }, 20_000);

  test("schedule: a function target's scheduled handler gets each tick at the times nextRuns gives (§schedules/firing/1, /2)", async () => {
    const app = new App("ticking");
    const report = app.function("report", { handler: "./src/report.ts" });
    app.schedule("every-second", { every: "1s", target: report });
    const graph = app.toGraph();
    const prefix = await provision(graph);
    const started = Date.now();
    await functionHost(graph, prefix, "report");
    await control(graph, prefix);

    await vi.waitFor(() => expect(seen.ticks.length).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
    const schedule = resourcesOf(graph, "schedule")[0]!;
    const first = seen.ticks[0]!.scheduledTime;
    const expected = nextRuns(scheduleExpressionOf(schedule.spec), { from: new Date(first - 1), count: 3 });
    expect(seen.ticks.slice(0, 3)).toEqual(
      expected.map((at) => ({ schedule: "every-second", scheduledTime: at.getTime() })),
    );
    expect(first).toBeGreaterThanOrEqual(started);
  }, 20_000);

  test("schedule: two control roles at once fire each tick once (§schedules/restarts/1)", async () => {
    const app = new App("replicas");
    const ticks = app.queue("ticks");
    app.schedule("every-second", { every: "1s", target: ticks });
    const graph = app.toGraph();
    const prefix = await provision(graph);
    await Promise.all([control(graph, prefix), control(graph, prefix)]);

    await vi.waitFor(async () => expect((await bodies("ticks", prefix)).length).toBeGreaterThanOrEqual(4), {
      timeout: 10_000,
    });
    const times = ((await bodies("ticks", prefix)) as ScheduledController[]).map((tick) => tick.scheduledTime);
    expect(new Set(times).size).toBe(times.length);
    for (const [index, time] of times.entries()) {
      expect(time % 1000).toBe(0);
      if (index > 0) expect(time - times[index - 1]!).toBe(1000);
    }
  }, 20_000);

  test("trigger: a request fires the schedule once now, with scheduledTime now; an unknown schedule is an error (§schedules/triggering/1)", async () => {
    const app = new App("triggered");
    const ticks = app.queue("ticks");
    app.schedule("nightly", { every: "24h", target: ticks, payload: { job: "report" } });
    app.schedule("hourly", { every: "1h", target: ticks });
    const graph = app.toGraph();
    const prefix = await provision(graph);
    await control(graph, prefix);
    const subject = scheduleTriggerSubject({ prefix });

    const before = Date.now();
    const reply = (await nc.request(subject, JSON.stringify({ schedule: "hourly" }), { timeout: 5_000 })).json<{
      scheduledTime: number;
    }>();
    expect(reply.scheduledTime).toBeGreaterThanOrEqual(before);
    expect(reply.scheduledTime).toBeLessThanOrEqual(Date.now());
    await nc.request(subject, JSON.stringify({ schedule: "nightly" }), { timeout: 5_000 });
    await vi.waitFor(async () => expect(await bodies("ticks", prefix)).toHaveLength(2), { timeout: 5_000 });
    expect(await bodies("ticks", prefix)).toEqual([
      { schedule: "hourly", scheduledTime: reply.scheduledTime },
      { job: "report" },
    ]);

    const unknown = (await nc.request(subject, JSON.stringify({ schedule: "weekly" }), { timeout: 5_000 })).json<{
      error: { code: string; message: string };
    }>();
    expect(unknown.error.code).toBe("NIMBUS_EMULATOR_UNKNOWN_SCHEDULE");
    expect(unknown.error.message).toContain('"weekly"');
  }, 20_000);

  test("schedule: a control role killed with SIGKILL and started again is ready, fires no tick twice, logs the ticks it missed and exits 0 on SIGTERM (§schedules/restarts/1, /2)", async () => {
    const app = new App("restarted");
    const ticks = app.queue("ticks");
    app.schedule("every-second", { every: "1s", target: ticks });
    const graph = app.toGraph();
    const prefix = await provision(graph);
    const env = {
      NIMBUS_ROLE: "control",
      NIMBUS_GRAPH: JSON.stringify(graph),
      NIMBUS_NATS_URL: nats.url,
      NIMBUS_PREFIX: prefix,
      NIMBUS_PORT: "0",
      NIMBUS_HOSTNAME: "127.0.0.1",
    };

    const first = spawnHost(env);
    await vi.waitFor(async () => expect((await bodies("ticks", prefix)).length).toBeGreaterThanOrEqual(2), {
      timeout: 15_000,
    });
    first.child.kill("SIGKILL");
    await first.exited;
    const killedAt = Date.now();
    const before = ((await bodies("ticks", prefix)) as ScheduledController[]).map((tick) => tick.scheduledTime);
    // Ticks must fall due while nothing runs: the behaviour under test is the passing of time.
    await new Promise((resolve) => setTimeout(resolve, 2_100));

    const second = spawnHost(env);
    try {
      await second.line((line) => line.message.startsWith("control role ready"));
      const listening = await second.line((line) => line.message.startsWith("control role listening on "));
      const port = /:(\d+)$/.exec(listening.message)![1];
      const ready = await fetch(`http://127.0.0.1:${port}/_nimbus/health/ready`);
      expect(ready.status).toBe(200);
      const skipped = await second.line((line) => line.message.includes("skipped"));
      expect(skipped.message).toMatch(/skipped \d+ ticks? that fell due while no control role ran/);
      await vi.waitFor(
        async () => expect((await bodies("ticks", prefix)).length).toBeGreaterThanOrEqual(before.length + 2),
        {
          timeout: 15_000,
        },
      );
      const times = ((await bodies("ticks", prefix)) as ScheduledController[]).map((tick) => tick.scheduledTime);
      expect(new Set(times).size).toBe(times.length);
      expect(times.slice(0, before.length)).toEqual(before);
      const after = times.slice(before.length);
      // Nothing that fell due while it was down: only ticks due after the restart, or the one
      // tick the kill may have caught between its claim and its publish, published again.
      const missed = after.filter((time) => time > killedAt && time <= killedAt + 2_000);
      expect(missed).toEqual([]);
      expect(after.filter((time) => time <= killedAt).length).toBeLessThanOrEqual(1);
    } finally {
      second.child.kill("SIGTERM");
      expect((await second.exited).code).toBe(0);
    }
  }, 40_000);
});

describe.skipIf(missing !== undefined)("host control role under its own NATS user", () => {
  const app = new App("private");
  const orders = app.bus("orders", { deadLetter: true });
  const audit = app.queue("audit", { maxMessageSize: "1KiB" });
  const fulfil = app.function("fulfil", { handler: "./src/fulfil.ts" });
  orders.rule("paid", { pattern: { source: ["shop"] }, targets: [audit, fulfil] });
  app.schedule("every-second", { every: "1s", target: fulfil });
  const graph = app.toGraph();
  const prefix = "p1";
  const users = natsPermissions(graph, { prefix });
  const passwords = natsPasswords(users);
  let nats: NatsServer;
  let admin: NatsConnection;
  let dir: string;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    nats = await startNatsServer({
      config: ({ listen, storeDir }) => renderNatsConfig(users, { app: graph.app, passwords, listen, storeDir }),
    });
    const login = (user: string) => ({ user, pass: passwords[user]! });
    admin = await connectAsAdmin(nats.url, users, passwords);
    await provisionNats(admin, graph, { prefix });
    dir = await mkdtemp(join(tmpdir(), "nimbus-control-"));
    await writeFile(join(dir, "handler.mjs"), handlerSource);
    const nats_ = (user: string) => ({ servers: [nats.url], ...login(user) });
    const control = await startControlRole(
      { role: "control", graph, nats: nats_(users.control.user), prefix, port: 0, hostname: "127.0.0.1" },
      collectingLogger().logger,
    );
    stops.push(() => control.stop());
    const fn = await startFunctionRole(
      {
        role: "function",
        graph,
        nats: nats_(users.functions.fulfil!.user),
        prefix,
        name: "fulfil",
        spec: resourcesOf(graph, "function")[0]!.spec,
        handler: join(dir, "handler.mjs"),
        port: 0,
        hostname: "127.0.0.1",
        functionUrls: {},
        secrets: {},
        missingSecrets: [],
      },
      collectingLogger().logger,
    );
    stops.push(() => fn.stop());
  }, 30_000);

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    await admin?.close();
    await nats?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
    seen.events.length = 0;
    seen.ticks.length = 0;
  });

  test("route and schedule: events reach the queue, the function and the dead-letter queue, and ticks the function, with only the control's and the function's rights", async () => {
    const spec = resourcesOf(graph, "bus")[0]!.spec;
    const bus = jetStreamBusTransport(admin, "orders", spec, prefix);
    const [small] = await bus.put([{ source: "shop", detailType: "Small", detail: {} }]);
    const [large] = await bus.put([{ source: "shop", detailType: "Large", detail: { text: "x".repeat(2_000) } }]);

    await vi.waitFor(() => expect(seen.events.map((event) => event.id).sort()).toEqual([small, large].sort()), {
      timeout: 10_000,
    });
    const queues = await QueueAdmin.open({ nc: admin, graph, prefix });
    await vi.waitFor(async () => expect(await queues.deadLettered("orders-dlq")).toHaveLength(1), { timeout: 10_000 });
    expect(await queues.deadLettered("orders-dlq")).toMatchObject([
      { queue: "orders/paid → queue audit", body: { id: large } },
    ]);
    expect((await queues.stats("audit")).depth).toBe(1);
    await vi.waitFor(() => expect(seen.ticks.length).toBeGreaterThanOrEqual(1), { timeout: 10_000 });
    expect(seen.ticks[0]).toMatchObject({ schedule: "every-second" });
  }, 20_000);
});
