import { type JetStreamManager, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type Graph, graphVersion, type QueueSpec } from "@nimbus/core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { startControlRole } from "./control-role.ts";
import { hostLogger, type LogEntry } from "./log.ts";
import { provisionNats } from "./provision.ts";
import { JetStreamQueues } from "./queue.ts";
import { type RetentionSweep, sweepRetention } from "./retention-sweep.ts";
import { type NatsServer, natsServerMissing, startNatsServer } from "./testing/nats-server.ts";

const missing = natsServerMissing();
if (missing) console.log(`packages/runtime/src/host/retention-sweep.test.ts skipped: ${missing}`);

/**
 * The streams are provisioned with a retention of an hour (their `max_age`), and the
 * sweep is given a few seconds: what drops a message here is the sweep, never `max_age`.
 */
const provisioned = 3_600_000;

function queueSpec(overrides: Partial<QueueSpec> = {}): QueueSpec {
  return {
    visibilityTimeout: 1_000,
    delivery: { maxAttempts: 3, backoff: { initial: 0, max: 0 } },
    deadLetter: null,
    retention: provisioned,
    maxMessageSize: 256 * 1024,
    schema: null,
    consumer: null,
    ...overrides,
  };
}

/** `jobs` (consumed by `worker`) dead-letters into `jobs-dlq`, which nobody consumes; nor `parked`. */
function graphWith(retention: number): Graph {
  const queues: Record<string, QueueSpec> = {
    jobs: queueSpec({
      deadLetter: "jobs-dlq",
      consumer: { function: "worker", batchSize: 10, maxBatchWait: 0, concurrency: 1 },
    }),
    "jobs-dlq": queueSpec({ retention }),
    parked: queueSpec({ retention }),
  };
  return {
    version: graphVersion,
    app: "retention-sweep-test",
    resources: Object.entries(queues).map(([name, spec]) => ({ kind: "queue" as const, name, spec })),
    edges: [],
  };
}

/** Log lines as they come, with the time each came at, and a wait for one. */
function lines() {
  const seen: { at: number; line: string }[] = [];
  const waiters: { match: RegExp; resolve: (at: number) => void }[] = [];
  const log = (line: string) => {
    const at = Date.now();
    seen.push({ at, line });
    for (const waiter of waiters.filter((w) => w.match.test(line))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(at);
    }
  };
  /** Resolves with the time of the first line matching `match`. */
  const when = (match: RegExp, timeout = 10_000) =>
    new Promise<number>((resolve, reject) => {
      const found = seen.find((entry) => match.test(entry.line));
      if (found) return resolve(found.at);
      const timer = setTimeout(() => reject(new Error(`no log line matching ${match} in ${timeout} ms`)), timeout);
      waiters.push({
        match,
        resolve: (at) => {
          clearTimeout(timer);
          resolve(at);
        },
      });
    });
  const matching = (match: RegExp) => seen.filter((entry) => match.test(entry.line));
  return { log, when, matching };
}

const dropped = (id: string) =>
  new RegExp(`message ${id} dropped: its retention \\(\\d+s\\) passed since it was first sent`);
/** How late after its moment a drop may come: the sweep promises about a second. */
const slack = 1_500;

describe.skipIf(missing !== undefined)("retention sweep", () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let jsm: JetStreamManager;
  let prefixes = 0;
  const stops: (() => Promise<unknown>)[] = [];

  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    jsm = await jetstreamManager(nc);
  }, 30_000);
  afterEach(async () => {
    for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});
  });
  afterAll(async () => {
    await nc?.close();
    await server?.stop();
  });

  /** The queues provisioned under a prefix of their own, and a driver over them. */
  async function provision() {
    const prefix = `r${++prefixes}`;
    const graph = graphWith(provisioned);
    await provisionNats(nc, graph, { prefix });
    const queues = await JetStreamQueues.open({
      nc,
      queues: Object.fromEntries(graph.resources.map((resource) => [resource.name, resource.spec as QueueSpec])),
      prefix,
      log: () => {},
    });
    stops.push(() => queues.close());
    return { prefix, queues };
  }

  /** Stores a dead letter of `jobs` in `jobs-dlq`, first sent at `firstSeen`, as the driver moves one. */
  const deadLetter = (queues: JetStreamQueues, id: string, firstSeen: number) =>
    queues.deadLetter("jobs-dlq", [
      {
        id,
        body: new TextEncoder().encode(JSON.stringify({ id })),
        firstSeen,
        msgID: id,
        from: "jobs",
        source: queues.names("jobs").stream,
        error: "the handler failed",
      },
    ]);

  const ids = async (stream: string) => {
    const found: string[] = [];
    const { state } = await jsm.streams.info(stream);
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const stored = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
      if (stored) found.push(stored.header.get("Nimbus-Id"));
    }
    return found;
  };

  const sweep = (queues: JetStreamQueues, queue: string, retention: number, log: (line: string) => void) => {
    const running: RetentionSweep = sweepRetention({ jsm, queue, names: queues.names(queue), retention, log });
    stops.push(() => running.stop());
    return running;
  };

  test("sweep: drops each dead letter of a dead-letter queue nobody consumes when its first send + retention passes, not its death + retention (§queues/retention/2)", async () => {
    const { queues } = await provision();
    const dlq = queues.names("jobs-dlq").stream;
    const retention = 3_000;
    const logs = lines();
    const t0 = Date.now();
    // Died 2 s after its first send: due 1 s from now.
    await deadLetter(queues, "early", t0 - 2_000);
    await deadLetter(queues, "fresh", t0);
    await deadLetter(queues, "redriven", t0);
    sweep(queues, "jobs-dlq", retention, logs.log);

    const early = await logs.when(dropped("early"));
    expect(early).toBeGreaterThanOrEqual(t0 - 2_000 + retention);
    expect(early).toBeLessThan(t0 - 2_000 + retention + slack);
    // Not due yet: it stays.
    expect(await ids(dlq)).toEqual(["fresh", "redriven"]);
    // Taken out meanwhile (as a redrive does): skipped without a line.
    const { state } = await jsm.streams.info(dlq);
    await jsm.streams.deleteMessage(dlq, state.last_seq);

    // Stored after the sweep's first read: found by the next one.
    const t1 = Date.now();
    await deadLetter(queues, "late", t1 - 1_000);
    const fresh = await logs.when(dropped("fresh"));
    expect(fresh).toBeGreaterThanOrEqual(t0 + retention);
    expect(fresh).toBeLessThan(t0 + retention + slack);
    const late = await logs.when(dropped("late"));
    expect(late).toBeGreaterThanOrEqual(t1 - 1_000 + retention);
    expect(late).toBeLessThan(t1 - 1_000 + retention + slack);
    expect(await ids(dlq)).toEqual([]);
    expect(logs.matching(/./).map((entry) => entry.line)).toEqual([
      `queue "jobs-dlq": message early dropped: its retention (3s) passed since it was first sent`,
      `queue "jobs-dlq": message fresh dropped: its retention (3s) passed since it was first sent`,
      `queue "jobs-dlq": message late dropped: its retention (3s) passed since it was first sent`,
    ]);
  });

  test("sweep: drops a delayed message of a queue nobody consumes when its retention passes, before its delay ends, beside the delays mover (§queues/retention/1)", async () => {
    const { queues } = await provision();
    const retention = 2_000;
    const logs = lines();
    stops.push(() => queues.moveDelayed("parked").stop());
    sweep(queues, "parked", retention, logs.log);
    const before = Date.now();
    await queues.send("parked", [{ format: "json", body: new TextEncoder().encode('"later"'), delay: 60_000 }]);
    const after = Date.now();

    const at = await logs.when(/queue "parked": message \S+ dropped/);
    expect(at).toBeGreaterThanOrEqual(before + retention);
    expect(at).toBeLessThan(after + retention + slack);
    expect(await ids(queues.names("parked").stream)).toEqual([]);
    expect(logs.matching(/dropped/)).toHaveLength(1);
  });

  test("control role: sweeps the queues nobody consumes, and a restarted control role reads the stream again and drops what it holds on time (§queues/retention/2)", async () => {
    const { prefix, queues } = await provision();
    const retention = 4_000;
    // The control role runs the app with a 4 s retention on the queues nobody consumes.
    const graph = graphWith(retention);
    const entries: LogEntry[] = [];
    const logs = lines();
    const start = async () => {
      const role = await startControlRole(
        { role: "control", graph, nats: { servers: [server.url] }, prefix, port: 0, hostname: "127.0.0.1" },
        hostLogger((line) => {
          const entry = JSON.parse(line) as LogEntry;
          entries.push(entry);
          logs.log(entry.message);
        }),
      );
      stops.push(() => role.stop());
      return role;
    };
    const t0 = Date.now();
    await deadLetter(queues, "kept", t0 - 1_000);
    const first = await start();
    // Stopped before the letter is due: `stop()` waits for the read in hand.
    await first.stop();
    expect(logs.matching(/dropped/)).toEqual([]);
    expect(await ids(queues.names("jobs-dlq").stream)).toEqual(["kept"]);

    await start();
    const at = await logs.when(dropped("kept"));
    expect(at).toBeGreaterThanOrEqual(t0 - 1_000 + retention);
    expect(at).toBeLessThan(t0 - 1_000 + retention + slack);
    expect(await ids(queues.names("jobs-dlq").stream)).toEqual([]);
    expect(entries.find((entry) => dropped("kept").test(entry.message))?.level).toBe("warn");
  });
});
