import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { deliveryRoute, type QueueSpec } from "@nimbus/core";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { Clock } from "../../clock/clock.ts";
import { Work } from "../../clock/work.ts";
import { Logger } from "../../logs/logger.ts";
import type { Consumer, DeliveryQueue } from "./consumer.ts";
import { QueuePlugin } from "./plugin.ts";

let stateDir: string;
let plugins: QueuePlugin[];

beforeEach(() => {
  stateDir = mkdtempSync(join(tmpdir(), "nimbus-queue-plugin-"));
  plugins = [];
});

afterEach(async () => {
  for (const plugin of plugins) await plugin.close();
  rmSync(stateDir, { recursive: true, force: true });
});

// A moment before the manual clock starts (at the real time), so both messages are due and within retention.
const t0 = Date.now() - 1_000;
const label = "orders/paid → function fulfil";
const event = { id: "5b1e", "detail-type": "OrderPaid", source: "shop" };

/** The file as an emulator of layout 1 left it: delivery queues and dead letters keyed by their label. */
function writeLayoutOne(): void {
  mkdirSync(join(stateDir, "queues"), { recursive: true });
  const db = new DatabaseSync(join(stateDir, "queues", "queues.sqlite"));
  db.exec(`
    CREATE TABLE messages (
      seq INTEGER PRIMARY KEY, id TEXT NOT NULL, queue TEXT NOT NULL, state INTEGER NOT NULL,
      visible_at INTEGER NOT NULL, attempts INTEGER NOT NULL, first_seen INTEGER NOT NULL, lease TEXT,
      last_error TEXT, dead_from TEXT, dead_attempts INTEGER, format TEXT NOT NULL, body BLOB NOT NULL);
    CREATE TABLE ticks (schedule TEXT PRIMARY KEY, at INTEGER NOT NULL);
    PRAGMA user_version = 1;`);
  const insert = db.prepare(
    `INSERT INTO messages (seq, id, queue, state, visible_at, attempts, first_seen, last_error, dead_from, dead_attempts, format, body)
     VALUES (?, ?, ?, 1, ?, 0, ?, ?, ?, ?, 'json', ?)`,
  );
  const body = Buffer.from(JSON.stringify(event));
  // Waiting for its first delivery to the function.
  insert.run(1, "00000000-0001-8abc-9def-0123456789ab", label, t0, t0, null, null, null, body);
  // Died at the same route and waiting in the bus's dead-letter queue.
  insert.run(2, "00000000-0002-8abc-9def-0123456789ab", "orders-dlq", t0, t0, "boom", label, 3, body);
  db.close();
}

function open(): { plugin: QueuePlugin; logger: Logger; work: Work; delivered: string[] } {
  const clock = new Clock("manual");
  const work = new Work();
  const logger = new Logger({ format: "silent" });
  const plugin = new QueuePlugin({ stateDir, clock, work, logger });
  plugins.push(plugin);
  const delivered: string[] = [];
  const consumer: Consumer = {
    batchSize: 10,
    maxBatchWait: 0,
    concurrency: 1,
    ready: () => true,
    deliver: async (messages) => {
      for (const message of messages) delivered.push(Buffer.from(message.body).toString("utf8"));
      return messages.map(({ id }) => ({ id, ack: true as const }));
    },
  };
  const dlq: QueueSpec = {
    visibilityTimeout: 30_000,
    delivery: { maxAttempts: 3, backoff: { initial: 1_000, max: 60_000 } },
    deadLetter: null,
    retention: 4 * 86_400_000,
    maxMessageSize: 262_144,
    schema: null,
    consumer: null,
  };
  plugin.applyQueues([{ kind: "queue", name: "orders-dlq", spec: dlq }]);
  const route = deliveryRoute("orders/paid", { kind: "function", name: "fulfil" });
  const delivery: DeliveryQueue = {
    name: route.key,
    label: route.label,
    policy: { ...dlq.delivery, visibilityTimeout: 40_000, deadLetter: "orders-dlq", retention: 86_400_000 },
    consumer,
    describe: () => "an event",
    noDeadLetter: "",
  };
  plugin.applyDeliveries("bus", [delivery]);
  return { plugin, logger, work, delivered };
}

describe("QueuePlugin", () => {
  test("open: a state folder whose delivery queues are keyed by their label still delivers their messages and shows the label (§bus/durability/1)", async () => {
    writeLayoutOne();
    const { plugin, logger, work, delivered } = open();
    await work.idle();
    expect(delivered.map((body) => JSON.parse(body))).toEqual([event]);
    expect(plugin.deadLettered("orders-dlq")).toEqual([
      expect.objectContaining({ queue: label, attempts: 3, lastError: "boom", body: event }),
    ]);
    expect(plugin.redrive("orders-dlq")).toEqual({ [label]: 1 });
    const said = logger.entries.filter((entry) => entry.message.includes("from their label to their storage key"));
    expect(said).toHaveLength(1);
    expect(said[0]!.message).toContain(label);
  });

  test("open: the move from labels to keys is said once, on the first open only", async () => {
    writeLayoutOne();
    const first = open();
    await first.work.idle();
    await first.plugin.close();
    const again = open();
    expect(again.logger.entries.filter((entry) => entry.message.includes("storage key"))).toEqual([]);
    expect(again.plugin.deadLettered("orders-dlq").map((message) => message.queue)).toEqual([label]);
  });

  test("pendingDeliveries: names each delivery queue by its label", () => {
    writeLayoutOne();
    const { plugin } = open();
    expect(Object.keys(plugin.pendingDeliveries())).toEqual([label]);
  });
});
