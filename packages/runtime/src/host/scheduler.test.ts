import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  App,
  type Graph,
  natsPermissions,
  renderNatsConfig,
  scheduleTickNames,
  scheduleTriggerSubject,
} from "@nimbus/core";
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from "vitest";
import { startControlRole } from "./control-role.ts";
import { connectAsAdmin, natsPasswords, storedBodies } from "./host.test-helper.ts";
import { hostLogger, type LogEntry } from "./log.ts";
import { provisionNats } from "./provision.ts";
import { Scheduler } from "./scheduler.ts";
import { type NatsServer, natsServerMissing, startNatsServer } from "./testing/nats-server.ts";

const missing = natsServerMissing();
if (missing) console.warn(`host scheduler tests skipped: ${missing}`);

describe.skipIf(missing !== undefined)("host scheduler", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
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

  test("claim takeover: a running replica publishes a tick another claimed and did not record once the claim is older than claimLease (§schedules/restarts/1)", async () => {
    const app = new App("taken-over");
    const ticks = app.queue("ticks");
    app.schedule("every-second", { every: "1s", target: ticks });
    const graph: Graph = app.toGraph();
    const prefix = "claims";
    await provisionNats(nc, graph, { prefix });
    const lines: string[] = [];
    const log = (line: string) => void lines.push(line);
    // A lease far below the default 30 s, so a claim a second old is stale.
    const scheduler = await Scheduler.start({ nc, graph, prefix, info: log, warn: log, error: log, claimLease: 500 });
    stops.push(() => scheduler.stop());
    await vi.waitFor(async () => expect((await storedBodies(nc, "ticks", prefix)).length).toBeGreaterThanOrEqual(1), {
      timeout: 5_000,
    });
    const [first] = (await storedBodies(nc, "ticks", prefix)) as { scheduledTime: number }[];

    // Another replica claimed a tick a second ago and died before storing it: a tick never published.
    const lost = first!.scheduledTime - 60_000;
    const { bucket, stream } = scheduleTickNames({ prefix });
    const jsm = await jetstreamManager(nc);
    await vi.waitFor(
      async () => {
        const current = await jsm.streams.getMessage(stream, { last_by_subj: `$KV.${bucket}.every-second` });
        const claim = JSON.stringify({ tick: lost, fired: false, claimedAt: Date.now() - 1_000 });
        // Expecting the record this replica wrote last, so its own writes are not overwritten in between.
        await jetstream(nc).publish(`$KV.${bucket}.every-second`, claim, {
          expect: { lastSubjectSequence: current!.seq },
        });
      },
      { timeout: 5_000 },
    );

    await vi.waitFor(
      async () =>
        expect(await storedBodies(nc, "ticks", prefix)).toContainEqual({
          schedule: "every-second",
          scheduledTime: lost,
        }),
      { timeout: 5_000 },
    );
    expect(lines.some((line) => line.includes("was claimed but not recorded as stored"))).toBe(true);
    // It was taken over at a tick, and the ticks go on.
    const after = (await storedBodies(nc, "ticks", prefix)) as { scheduledTime: number }[];
    await vi.waitFor(
      async () => expect((await storedBodies(nc, "ticks", prefix)).length).toBeGreaterThan(after.length),
      {
        timeout: 5_000,
      },
    );
  }, 20_000);
});

describe.skipIf(missing !== undefined)("host scheduler under the control role's own NATS user", () => {
  const app = new App("triggered");
  const ticks = app.queue("ticks");
  app.schedule("nightly", { every: "24h", target: ticks, payload: { job: "report" } });
  const graph = app.toGraph();
  const prefix = "p1";
  const users = natsPermissions(graph, { prefix });
  const passwords = natsPasswords(users);
  let nats: NatsServer;
  let admin: NatsConnection;
  let stop: (() => Promise<void>) | undefined;
  const lines: LogEntry[] = [];

  beforeAll(async () => {
    nats = await startNatsServer({
      config: ({ listen, storeDir }) => renderNatsConfig(users, { app: graph.app, passwords, listen, storeDir }),
    });
    admin = await connectAsAdmin(nats.url, users, passwords);
    await provisionNats(admin, graph, { prefix });
    const control = await startControlRole(
      {
        role: "control",
        graph,
        nats: { servers: [nats.url], user: users.control.user, pass: passwords[users.control.user]! },
        prefix,
        port: 0,
        hostname: "127.0.0.1",
      },
      hostLogger((line) => lines.push(JSON.parse(line) as LogEntry)),
    );
    stop = () => control.stop();
  }, 30_000);

  afterAll(async () => {
    await stop?.();
    await admin?.close();
    await nats?.stop();
  });

  test("trigger: the control role, under its generated user, answers the admin's trigger request and fires the schedule once (§schedules/triggering/1)", async () => {
    const before = Date.now();
    const reply = await admin.request(scheduleTriggerSubject({ prefix }), JSON.stringify({ schedule: "nightly" }), {
      timeout: 5_000,
    });
    const { scheduledTime } = reply.json<{ scheduledTime: number }>();
    expect(scheduledTime).toBeGreaterThanOrEqual(before);
    expect(scheduledTime).toBeLessThanOrEqual(Date.now());
    await vi.waitFor(async () => expect(await storedBodies(admin, "ticks", prefix)).toEqual([{ job: "report" }]), {
      timeout: 5_000,
    });
    expect(lines.filter((line) => line.level === "error")).toEqual([]);
  }, 20_000);
});
