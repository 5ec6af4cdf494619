import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { type OutgoingMessage, type QueuePolicy, QueueStore, type StoredMessage } from "./store.ts";

// Every test gets a folder of its own; the store lives where the emulator keeps it.
let root: string;
let file: string;
let opened: QueueStore[];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "nimbus-queue-store-"));
  file = join(root, "state", "queues", "queues.sqlite");
  opened = [];
});

afterEach(() => {
  for (const store of opened) store.close();
  rmSync(root, { recursive: true, force: true });
});

/** With random 0.5 the back-off is 1s, 1.5s, 3s, 6s, … for the defaults below. */
function open(random: () => number = () => 0.5): QueueStore {
  const store = new QueueStore({ file, random });
  opened.push(store);
  return store;
}

function reopen(store: QueueStore): QueueStore {
  store.close();
  return open();
}

const t0 = Date.UTC(2030, 0, 1, 12);
const second = 1_000;
const day = 86_400_000;

/** queueDefaults, in ms. */
const policy: QueuePolicy = {
  visibilityTimeout: 30 * second,
  maxAttempts: 3,
  backoff: { initial: second, max: 60 * second },
  deadLetter: null,
  retention: 4 * day,
};
const withDlq: QueuePolicy = { ...policy, deadLetter: "orders-dlq" };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function json(value: unknown, delay?: number): OutgoingMessage {
  return { body: encoder.encode(JSON.stringify(value)), format: "json", ...(delay === undefined ? {} : { delay }) };
}

function bodies(messages: readonly StoredMessage[]): unknown[] {
  return messages.map((message) => JSON.parse(decoder.decode(message.body)));
}

function ids(messages: readonly StoredMessage[]): string[] {
  return messages.map((message) => message.id);
}

const empty = { depth: 0, inFlight: 0, delayed: 0, deadLettered: 0 };

/** Delivers `id` (the only message ready in `queue`) and fails it `times` times with "boom <n>". */
function failRepeatedly(store: QueueStore, queue: string, times: number, start: number, queuePolicy: QueuePolicy) {
  let now = start;
  let last: ReturnType<QueueStore["settle"]> | undefined;
  for (let n = 1; n <= times; n++) {
    const due = store.nextDue(queue);
    if (due !== undefined && due > now) now = due;
    const { lease, messages } = store.lease(queue, 1, now, queuePolicy);
    const [message] = messages;
    if (!message) throw new Error(`delivery ${n}: nothing to lease`);
    last = store.settle(lease, [{ id: message.id, retry: { error: `boom ${n}` } }], now, queuePolicy);
  }
  return { now, last: last! };
}

describe("QueueStore", () => {
  test("constructor: creates the folder and the file", () => {
    open();
    expect(existsSync(file)).toBe(true);
  });

  test("constructor: gives the messages of a file from the first layout ids settle can find", () => {
    // The first layout: ids were random v4 UUIDs under a unique index.
    mkdirSync(dirname(file), { recursive: true });
    const old = new DatabaseSync(file);
    old.exec(`CREATE TABLE messages (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, queue TEXT NOT NULL,
      state INTEGER NOT NULL, visible_at INTEGER NOT NULL, attempts INTEGER NOT NULL, first_seen INTEGER NOT NULL,
      lease TEXT, last_error TEXT, dead_from TEXT, dead_attempts INTEGER, format TEXT NOT NULL, body BLOB NOT NULL)`);
    const insert = old.prepare(
      "INSERT INTO messages (id, queue, state, visible_at, attempts, first_seen, format, body) VALUES (?, 'orders', 1, ?, 0, ?, 'json', ?)",
    );
    insert.run(randomUUID(), t0, t0, json(1).body);
    insert.run(randomUUID(), t0, t0, json(2).body);
    old.close();
    const store = open();
    const { lease, messages } = store.lease("orders", 10, t0, policy);
    expect(bodies(messages)).toEqual([1, 2]);
    for (const message of messages) expect(message.id[14]).toBe("8");
    const acked = store.settle(
      lease,
      messages.map((message) => ({ id: message.id, ack: true as const })),
      t0,
      policy,
    );
    expect(acked.acked).toEqual(ids(messages));
    expect(ids(store.lease("orders", 10, t0, policy).messages)).toEqual([]);
    // Reopening does not rename again.
    const [id] = store.send("orders", [json(3)], t0);
    expect(ids(reopen(store).lease("orders", 10, t0, policy).messages)).toEqual([id]);
  });

  test("send: returns one distinct id per message, in send order", () => {
    const store = open();
    const sent = store.send("orders", [json(1), json(2), json(3)], t0);
    expect(new Set(sent).size).toBe(3);
    for (const id of sent) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(ids(store.lease("orders", 10, t0, policy).messages)).toEqual(sent);
    expect(store.send("orders", [], t0)).toEqual([]);
  });

  test("send: keeps each body's bytes and format", () => {
    const store = open();
    const bytes = new Uint8Array([0, 255, 1, 254]);
    store.send(
      "orders",
      [
        json({ total: 1250, items: ["é", "😀"] }),
        { body: bytes, format: "bytes" },
        { body: new Uint8Array(), format: "bytes" },
      ],
      t0,
    );
    const [first, second, third] = store.lease("orders", 10, t0, policy).messages;
    expect(first!.format).toBe("json");
    expect(JSON.parse(decoder.decode(first!.body))).toEqual({ total: 1250, items: ["é", "😀"] });
    expect(second!.format).toBe("bytes");
    expect([...second!.body]).toEqual([0, 255, 1, 254]);
    expect(third!.body.byteLength).toBe(0);
  });

  test("send: a delay holds a message back until now + delay, without holding back later ones", () => {
    const store = open();
    const [later] = store.send("orders", [json("later", 5 * second)], t0);
    store.send("orders", [json("now")], t0);
    expect(store.stats("orders", t0)).toEqual({ ...empty, depth: 1, delayed: 1 });
    expect(bodies(store.lease("orders", 10, t0, policy).messages)).toEqual(["now"]);
    expect(store.lease("orders", 10, t0 + 5 * second - 1, policy).messages).toEqual([]);
    expect(store.stats("orders", t0 + 5 * second)).toEqual({ ...empty, depth: 1, inFlight: 1 });
    const [message] = store.lease("orders", 10, t0 + 5 * second, policy).messages;
    expect(message).toMatchObject({ id: later, attempts: 1, firstSeen: t0 });
  });

  test("lease: returns the oldest messages first, by send order", () => {
    const store = open();
    store.send("orders", [json(1), json(2)], t0);
    store.send("orders", [json(3)], t0 + 1);
    store.send("orders", [json(4), json(5)], t0 + 2);
    const seen = [1, 2, 3].flatMap(() => bodies(store.lease("orders", 2, t0 + 3, policy).messages));
    expect(seen).toEqual([1, 2, 3, 4, 5]);
  });

  test("lease: takes at most max messages and leaves the rest ready", () => {
    const store = open();
    store.send(
      "orders",
      [1, 2, 3, 4, 5].map((n) => json(n)),
      t0,
    );
    expect(store.lease("orders", 3, t0, policy).messages).toHaveLength(3);
    expect(store.stats("orders", t0)).toEqual({ ...empty, depth: 2, inFlight: 3 });
    expect(store.lease("orders", 0, t0, policy).messages).toEqual([]);
    expect(store.lease("orders", -1, t0, policy).messages).toEqual([]);
    expect(store.lease("orders", 100, t0, policy).messages).toHaveLength(2);
    expect(store.lease("orders", 100, t0, policy).messages).toEqual([]);
  });

  test("lease: counts the delivery and sets the lease's expiry", () => {
    const store = open();
    const [id] = store.send("orders", [json(1)], t0);
    const first = store.lease("orders", 1, t0 + 7, policy);
    expect(first.messages).toEqual([
      {
        id,
        queue: "orders",
        body: expect.any(Uint8Array),
        format: "json",
        attempts: 1,
        firstSeen: t0,
        visibleAt: t0 + 7 + 30 * second,
      },
    ]);
    const next = store.lease("orders", 1, t0 + 8, policy);
    expect(next.lease).not.toBe(first.lease);
    expect(next.messages).toEqual([]);
  });

  test("lease: keeps queues apart", () => {
    const store = open();
    store.send("orders", [json("order")], t0);
    store.send("emails", [json("email")], t0);
    expect(bodies(store.lease("emails", 10, t0, policy).messages)).toEqual(["email"]);
    expect(bodies(store.lease("orders", 10, t0, policy).messages)).toEqual(["order"]);
  });

  test("lease: a message that is deliverable again goes before newer ones", () => {
    const store = open();
    const [first] = store.send("orders", [json(1), json(2)], t0);
    const { lease } = store.lease("orders", 1, t0, policy);
    store.settle(lease, [{ id: first!, retry: { delay: second } }], t0, policy);
    store.send("orders", [json(3)], t0 + 1);
    expect(bodies(store.lease("orders", 10, t0 + second, policy).messages)).toEqual([1, 2, 3]);
  });

  test("settle: ack deletes the message for good", () => {
    const store = open();
    const [id] = store.send("orders", [json(1)], t0);
    const { lease } = store.lease("orders", 1, t0, policy);
    expect(store.settle(lease, [{ id: id!, ack: true }], t0 + 1, policy)).toEqual({
      acked: [id],
      retried: [],
      deadLettered: [],
      dropped: [],
      bodies: new Map(),
    });
    expect(store.stats("orders", t0 + 1)).toEqual(empty);
    expect(store.nextDue("orders")).toBeUndefined();
    expect(store.expireLeases("orders", t0 + day, policy)).toEqual([]);
    expect(store.lease("orders", 10, t0 + day, policy).messages).toEqual([]);
  });

  test("settle: retry without a delay waits the queue's back-off, longer with each attempt", () => {
    const store = open();
    const [id] = store.send("orders", [json(1)], t0);
    let { lease } = store.lease("orders", 1, t0, policy);
    expect(store.settle(lease, [{ id: id!, retry: {} }], t0 + 10, policy).retried).toEqual([id]);
    // attempts 1, random 0.5: base 1s, so exactly 1s.
    expect(store.nextDue("orders")).toBe(t0 + 10 + second);
    expect(store.stats("orders", t0 + 10)).toEqual({ ...empty, delayed: 1 });
    expect(store.lease("orders", 1, t0 + 10 + second - 1, policy).messages).toEqual([]);
    const again = store.lease("orders", 1, t0 + 10 + second, policy);
    expect(again.messages[0]).toMatchObject({ id, attempts: 2, lastError: "retried", firstSeen: t0 });
    ({ lease } = again);
    store.settle(lease, [{ id: id!, retry: {} }], t0 + 2 * second, policy);
    // attempts 2: base 2s, equal jitter in [1s, 2s]; random 0.5 gives 1.5s.
    expect(store.nextDue("orders")).toBe(t0 + 2 * second + 1_500);
  });

  test("settle: retry with a delay waits exactly that long; 0 means at once", () => {
    const store = open();
    const [id] = store.send("orders", [json(1)], t0);
    let { lease } = store.lease("orders", 1, t0, policy);
    store.settle(lease, [{ id: id!, retry: { delay: 7_777, error: "not yet" } }], t0, policy);
    expect(store.nextDue("orders")).toBe(t0 + 7_777);
    expect(store.lease("orders", 1, t0 + 7_776, policy).messages).toEqual([]);
    ({ lease } = store.lease("orders", 1, t0 + 7_777, policy));
    store.settle(lease, [{ id: id!, retry: { delay: 0 } }], t0 + 8_000, policy);
    expect(store.stats("orders", t0 + 8_000)).toEqual({ ...empty, depth: 1 });
    const [message] = store.lease("orders", 1, t0 + 8_000, policy).messages;
    expect(message).toMatchObject({ id, attempts: 3, lastError: "retried" });
  });

  test("settle: keeps a retry's error as lastError", () => {
    const store = open();
    const [id] = store.send("orders", [json(1)], t0);
    const { lease } = store.lease("orders", 1, t0, policy);
    store.settle(lease, [{ id: id!, retry: { delay: 0, error: "TypeError: x is undefined" } }], t0, policy);
    expect(store.lease("orders", 1, t0, policy).messages[0]!.lastError).toBe("TypeError: x is undefined");
  });

  test("settle: after maxAttempts deliveries a retry moves the message to the dead-letter queue", () => {
    const store = open();
    const [id] = store.send("orders", [json({ order: 42 })], t0);
    const { now, last } = failRepeatedly(store, "orders", 3, t0 + 5, withDlq);
    expect(last).toEqual({
      acked: [],
      retried: [],
      deadLettered: [id],
      dropped: [],
      bodies: new Map([[id, json({ order: 42 }).body]]),
    });
    expect(store.stats("orders", now)).toEqual({ ...empty, deadLettered: 1 });
    expect(store.stats("orders-dlq", now)).toEqual({ ...empty, depth: 1 });
    const dead = store.deadLettered("orders-dlq");
    expect(dead).toEqual([
      {
        id,
        queue: "orders-dlq",
        body: expect.any(Uint8Array),
        format: "json",
        attempts: 0,
        deadAttempts: 3,
        firstSeen: t0,
        visibleAt: now,
        lastError: "boom 3",
        deadFrom: "orders",
      },
    ]);
    expect(bodies(dead)).toEqual([{ order: 42 }]);
    // The dead-letter queue counts its own deliveries from 1.
    const [delivered] = store.lease("orders-dlq", 1, now, policy).messages;
    expect(delivered).toMatchObject({ id, attempts: 1, deadAttempts: 3, deadFrom: "orders" });
  });

  test("settle: an explicit delay does not keep a message that ran out of attempts; lastError defaults to 'retried'", () => {
    const store = open();
    const [id] = store.send("orders", [json(1)], t0);
    const { lease } = store.lease("orders", 1, t0, { ...withDlq, maxAttempts: 1 });
    const result = store.settle(lease, [{ id: id!, retry: { delay: 5 * second } }], t0, { ...withDlq, maxAttempts: 1 });
    expect(result.deadLettered).toEqual([id]);
    expect(store.deadLettered("orders-dlq")[0]).toMatchObject({ lastError: "retried", deadAttempts: 1 });
  });

  test("settle: a final retry ends the message at once, whatever its attempts", () => {
    const store = open();
    const [refused, dropped] = store.send("orders", [json(1), json(2)], t0);
    const { lease } = store.lease("orders", 2, t0, withDlq);
    const result = store.settle(lease, [{ id: refused!, retry: { error: "refused", final: true } }], t0, withDlq);
    expect(result.deadLettered).toEqual([refused]);
    expect(store.deadLettered("orders-dlq")[0]).toMatchObject({ id: refused, deadAttempts: 1, lastError: "refused" });
    const gone = store.settle(lease, [{ id: dropped!, retry: { error: "refused", final: true } }], t0, policy);
    expect(gone.dropped).toEqual([dropped]);
    expect(store.stats("orders", t0)).toEqual({ ...empty, deadLettered: 1 });
  });

  test("settle: without a dead-letter queue a message that ran out of attempts is dropped and reported", () => {
    const store = open();
    const [id] = store.send("orders", [json(1)], t0);
    const { now, last } = failRepeatedly(store, "orders", 3, t0, policy);
    expect(last).toEqual({
      acked: [],
      retried: [],
      deadLettered: [],
      dropped: [id],
      bodies: new Map([[id, json(1).body]]),
    });
    expect(store.stats("orders", now)).toEqual(empty);
    const [other] = store.send("orders", [json(2)], now);
    expect(store.stats("orders", now)).toEqual({ ...empty, depth: 1 });
    expect(ids(store.lease("orders", 10, now + day, policy).messages)).toEqual([other]);
  });

  test("settle: an outcome at or after the lease's expiry is too late and ignored", () => {
    const store = open();
    const [late, inTime] = store.send("orders", [json(1), json(2)], t0);
    const { lease } = store.lease("orders", 2, t0, policy);
    const expiry = t0 + 30 * second;
    expect(store.settle(lease, [{ id: inTime!, ack: true }], expiry - 1, policy).acked).toEqual([inTime]);
    expect(store.settle(lease, [{ id: late!, ack: true }], expiry, policy)).toEqual({
      acked: [],
      retried: [],
      deadLettered: [],
      dropped: [],
      bodies: new Map(),
    });
    expect(store.stats("orders", expiry)).toEqual({ ...empty, inFlight: 1 });
    expect(store.expireLeases("orders", expiry, policy)).toEqual([late]);
  });

  test("settle: an outcome under an older lease is ignored once the message was leased again", () => {
    const store = open();
    const [id] = store.send("orders", [json(1)], t0);
    const first = store.lease("orders", 1, t0, policy);
    store.expireLeases("orders", t0 + 30 * second, policy);
    const next = store.lease("orders", 1, t0 + 31 * second, policy);
    expect(next.messages[0]).toMatchObject({ id, attempts: 2 });
    expect(store.settle(first.lease, [{ id: id!, ack: true }], t0 + 32 * second, policy).acked).toEqual([]);
    expect(store.settle(next.lease, [{ id: id!, ack: true }], t0 + 32 * second, policy).acked).toEqual([id]);
  });

  test("settle: ignores messages outside the lease, and only the first outcome for a message counts", () => {
    const store = open();
    const [mine, theirs] = store.send("orders", [json(1), json(2)], t0);
    const { lease } = store.lease("orders", 1, t0, policy);
    const other = store.lease("orders", 1, t0, policy);
    const result = store.settle(
      lease,
      [
        { id: theirs!, ack: true },
        { id: "no-such-message", ack: true },
        // The right row number with another random part: not this message.
        { id: `${mine!.slice(0, 15)}000-8000-000000000000`, ack: true },
        { id: mine!, retry: { delay: 0 } },
        { id: mine!, ack: true },
      ],
      t0,
      policy,
    );
    expect(result).toEqual({ acked: [], retried: [mine], deadLettered: [], dropped: [], bodies: new Map() });
    expect(store.settle(other.lease, [{ id: theirs!, ack: true }], t0, policy).acked).toEqual([theirs]);
  });

  test("settle: an acked message never comes back, also after reopening the file", () => {
    let store = open();
    const [a, b, c] = store.send("orders", [json(1), json(2), json(3)], t0);
    const { lease } = store.lease("orders", 3, t0, policy);
    store.settle(
      lease,
      [
        { id: a!, ack: true },
        { id: b!, ack: true },
      ],
      t0,
      policy,
    );
    store = reopen(store);
    expect(store.stats("orders", t0)).toEqual({ ...empty, inFlight: 1 });
    expect(store.expireLeases("orders", t0 + day, policy)).toEqual([c]);
    const again = store.lease("orders", 10, t0 + 2 * day, policy);
    expect(ids(again.messages)).toEqual([c]);
    store.settle(again.lease, [{ id: c!, ack: true }], t0 + 2 * day, policy);
    store = reopen(store);
    expect(store.expireLeases("orders", t0 + 3 * day, policy)).toEqual([]);
    expect(store.lease("orders", 10, t0 + 3 * day, policy).messages).toEqual([]);
    expect(store.nextDue("orders")).toBeUndefined();
  });

  test("expireLeases: an unsettled message comes back after its visibility timeout plus the back-off", () => {
    const store = open();
    const [id, other] = store.send("orders", [json(1), json(2)], t0);
    store.lease("orders", 1, t0, policy);
    store.lease("orders", 1, t0 + 10 * second, policy);
    expect(store.expireLeases("orders", t0 + 30 * second - 1, policy)).toEqual([]);
    expect(store.expireLeasesDetailed("orders", t0 + 30 * second, policy)).toEqual({
      expired: [id],
      retried: [id],
      deadLettered: [],
      dropped: [],
      bodies: new Map(),
    });
    expect(store.stats("orders", t0 + 30 * second)).toEqual({ ...empty, inFlight: 1, delayed: 1 });
    expect(store.lease("orders", 1, t0 + 31 * second - 1, policy).messages).toEqual([]);
    const [message] = store.lease("orders", 1, t0 + 31 * second, policy).messages;
    expect(message).toMatchObject({ id, attempts: 2, firstSeen: t0 });
    expect(message!.lastError).toBe("visibility timeout expired (delivery 1 was not settled within 30s)");
    expect(store.expireLeases("orders", t0 + 40 * second, policy)).toEqual([other]);
  });

  test("expireLeases: after maxAttempts the message goes to the dead-letter queue, or is dropped without one", () => {
    const store = open();
    const once = { ...withDlq, maxAttempts: 1 };
    const [kept] = store.send("orders", [json(1)], t0);
    const [lost] = store.send("emails", [json(2)], t0);
    store.lease("orders", 1, t0, once);
    store.lease("emails", 1, t0, { ...policy, maxAttempts: 1 });
    expect(store.expireLeasesDetailed("orders", t0 + 30 * second, once)).toEqual({
      expired: [kept],
      retried: [],
      deadLettered: [kept],
      dropped: [],
      bodies: new Map([[kept, json(1).body]]),
    });
    expect(store.expireLeases("emails", t0 + 30 * second, { ...policy, maxAttempts: 1 })).toEqual([lost]);
    expect(store.deadLettered("orders-dlq")[0]).toMatchObject({
      id: kept,
      deadFrom: "orders",
      deadAttempts: 1,
      lastError: "visibility timeout expired (delivery 1 was not settled within 30s)",
    });
    expect(store.stats("emails", t0 + 30 * second)).toEqual(empty);
  });

  test("nextDue: is undefined for a queue that holds nothing", () => {
    const store = open();
    store.send("other", [json(1)], t0);
    expect(store.nextDue("orders")).toBeUndefined();
  });

  test("nextDue: is the earliest delayed message or lease expiry, and in the past while a message waits", () => {
    const store = open();
    store.send("orders", [json("in 10s", 10 * second), json("now")], t0);
    expect(store.nextDue("orders")).toBe(t0);
    store.lease("orders", 10, t0, policy);
    expect(store.nextDue("orders")).toBe(t0 + 10 * second);
    store.lease("orders", 10, t0 + 10 * second, policy);
    expect(store.nextDue("orders")).toBe(t0 + 30 * second);
    store.expireLeases("orders", t0 + 30 * second, policy);
    // Back in 1s after the first expiry; the second lease expires at 40s.
    expect(store.nextDue("orders")).toBe(t0 + 31 * second);
  });

  test("nextDue: with after, only times later than it count", () => {
    const store = open();
    store.send("orders", [json("now"), json("in 10s", 10 * second)], t0);
    expect(store.nextDue("orders", t0)).toBe(t0 + 10 * second);
    store.lease("orders", 1, t0, policy);
    expect(store.nextDue("orders", t0 + 10 * second)).toBe(t0 + 30 * second);
    expect(store.nextDue("orders", t0 + 30 * second)).toBeUndefined();
  });

  test("readyCount: counts the messages deliverable now, no further than atMost", () => {
    const store = open();
    store.send(
      "orders",
      [1, 2, 3, 4].map((n) => json(n)),
      t0,
    );
    store.send("orders", [json("in 1s", second), json("in 2s", 2 * second)], t0);
    store.lease("orders", 1, t0, policy);
    expect(store.readyCount("orders", t0, 100)).toBe(3);
    expect(store.readyCount("orders", t0, 2)).toBe(2);
    expect(store.readyCount("orders", t0 + second, 100)).toBe(4);
    expect(store.readyCount("orders", t0 + 2 * second, 4)).toBe(4);
    expect(store.readyCount("orders", t0 + 2 * second, 0)).toBe(0);
    expect(store.readyCount("other", t0, 10)).toBe(0);
  });

  test("dropExpired: drops messages first sent retention or longer ago, in any state, retried ones by their first send", () => {
    const store = open();
    const short = { ...policy, retention: 60 * second };
    const [old] = store.send("orders", [json("old")], t0);
    const [younger] = store.send("orders", [json("younger")], t0 + 30 * second);
    const [delayed] = store.send("orders", [json("delayed", 60 * second)], t0 + 1);
    const { lease } = store.lease("orders", 1, t0 + 40 * second, short);
    expect(store.dropExpired("orders", t0 + 60 * second - 1, short)).toEqual([]);
    expect(store.dropExpired("orders", t0 + 60 * second, short)).toEqual([old]);
    // The lease on a dropped message settles nothing.
    expect(store.settle(lease, [{ id: old!, ack: true }], t0 + 60 * second, short).acked).toEqual([]);
    expect(store.dropExpired("orders", t0 + 60 * second + 1, short)).toEqual([delayed]);
    const retry = store.lease("orders", 1, t0 + 61 * second, short);
    store.settle(retry.lease, [{ id: younger!, retry: { delay: day } }], t0 + 61 * second, short);
    expect(store.dropExpired("orders", t0 + 90 * second, short)).toEqual([younger]);
    expect(store.stats("orders", t0 + 90 * second)).toEqual(empty);
  });

  test("nextExpiry: is when the oldest message of the queue reaches its retention", () => {
    const store = open();
    const short = { ...policy, retention: 60 * second };
    expect(store.nextExpiry("orders", short)).toBeUndefined();
    const [first] = store.send("orders", [json(1)], t0);
    store.send("orders", [json(2)], t0 + 10 * second);
    expect(store.nextExpiry("orders", short)).toBe(t0 + 60 * second);
    expect(store.dropExpired("orders", t0 + 60 * second, short)).toEqual([first]);
    expect(store.nextExpiry("orders", short)).toBe(t0 + 70 * second);
  });

  test("dropExpired: a dead-lettered message keeps its first-seen time", () => {
    const store = open();
    const [id] = store.send("orders", [json(1)], t0);
    failRepeatedly(store, "orders", 3, t0, withDlq);
    expect(store.dropExpired("orders-dlq", t0 + policy.retention - 1, policy)).toEqual([]);
    expect(store.dropExpired("orders-dlq", t0 + policy.retention, policy)).toEqual([id]);
  });

  test("stats: counts messages in every state", () => {
    const store = open();
    const [leasedId] = store.send("orders", [json("leased"), json("ready"), json("ready"), json("dies")], t0);
    store.send("orders", [json("delayed", 10 * second)], t0);
    store.send("orders-dlq", [json("sent to the dlq itself")], t0);
    expect(store.stats("orders", t0)).toEqual({ depth: 4, inFlight: 0, delayed: 1, deadLettered: 0 });
    const held = store.lease("orders", 1, t0, withDlq);
    expect(store.stats("orders", t0)).toEqual({ depth: 3, inFlight: 1, delayed: 1, deadLettered: 0 });
    const rest = store.lease("orders", 3, t0, withDlq);
    const [ready1, ready2, dies] = ids(rest.messages);
    store.settle(
      rest.lease,
      [ready1!, ready2!].map((id) => ({ id, retry: { delay: 0 } })),
      t0,
      withDlq,
    );
    store.settle(rest.lease, [{ id: dies!, retry: {} }], t0, { ...withDlq, maxAttempts: 1 });
    expect(store.stats("orders", t0)).toEqual({ depth: 2, inFlight: 1, delayed: 1, deadLettered: 1 });
    // Time alone turns a delayed message into a ready one.
    expect(store.stats("orders", t0 + 10 * second)).toEqual({ depth: 3, inFlight: 1, delayed: 0, deadLettered: 1 });
    expect(store.stats("orders-dlq", t0)).toEqual({ depth: 2, inFlight: 0, delayed: 0, deadLettered: 0 });
    store.settle(held.lease, [{ id: leasedId!, ack: true }], t0, withDlq);
    expect(store.stats("orders", t0)).toEqual({ depth: 2, inFlight: 0, delayed: 1, deadLettered: 1 });
    expect(store.stats("nothing", t0)).toEqual(empty);
  });

  test("deadLettered: lists the messages that died, oldest first, up to a limit", () => {
    const store = open();
    const once = { ...withDlq, maxAttempts: 1 };
    const sent = store.send("orders", [json(1), json(2), json(3)], t0);
    store.send("orders-dlq", [json("sent to the dlq itself")], t0);
    const { lease, messages } = store.lease("orders", 3, t0, once);
    // Settled newest first: the list still follows send order.
    store.settle(
      lease,
      [...messages].reverse().map((message) => ({ id: message.id, retry: {} })),
      t0,
      once,
    );
    expect(ids(store.deadLettered("orders-dlq"))).toEqual(sent);
    expect(ids(store.deadLettered("orders-dlq", 2))).toEqual(sent.slice(0, 2));
    expect(store.deadLettered("orders")).toEqual([]);
  });

  test("redrive: moves dead messages back to the queues they died in, deliverable at once, attempts reset", () => {
    const store = open();
    const once = (deadLetter: string) => ({ ...policy, maxAttempts: 1, deadLetter });
    const [a1, a2] = store.send("a", [json("a1"), json("a2")], t0);
    const [b1] = store.send("b", [json("b1")], t0);
    store.send("dlq", [json("sent to the dlq itself")], t0);
    const a = store.lease("a", 2, t0, once("dlq"));
    store.settle(
      a.lease,
      [a1!, a2!].map((id) => ({ id, retry: { error: "boom" } })),
      t0,
      once("dlq"),
    );
    const b = store.lease("b", 1, t0, once("dlq"));
    store.settle(b.lease, [{ id: b1!, retry: {} }], t0, once("dlq"));
    store.send("a", [json("a3")], t0 + 1);
    expect(store.redrive("dlq", t0 + 5 * second)).toEqual({ a: 2, b: 1 });
    expect(store.stats("a", t0 + 5 * second)).toEqual({ ...empty, depth: 3 });
    expect(store.stats("dlq", t0 + 5 * second)).toEqual({ ...empty, depth: 1 });
    expect(store.deadLettered("dlq")).toEqual([]);
    const again = store.lease("a", 10, t0 + 5 * second, policy).messages;
    expect(bodies(again)).toEqual(["a1", "a2", "a3"]);
    expect(again[0]).toEqual({
      id: a1,
      queue: "a",
      body: expect.any(Uint8Array),
      format: "json",
      attempts: 1,
      firstSeen: t0,
      visibleAt: t0 + 5 * second + policy.visibilityTimeout,
      lastError: "boom",
    });
    expect(store.redrive("dlq", t0 + 6 * second)).toEqual({});
  });

  test("redrive: cancels a lease taken in the dead-letter queue", () => {
    const store = open();
    const [id] = store.send("orders", [json(1)], t0);
    failRepeatedly(store, "orders", 3, t0, withDlq);
    const { lease } = store.lease("orders-dlq", 1, t0 + day, policy);
    expect(store.redrive("orders-dlq", t0 + day)).toEqual({ orders: 1 });
    expect(store.settle(lease, [{ id: id!, ack: true }], t0 + day, policy).acked).toEqual([]);
    expect(store.stats("orders", t0 + day)).toEqual({ ...empty, depth: 1 });
  });

  test("clear: empties every queue", () => {
    const store = open();
    store.send("orders", [json(1), json(2), json(3, second)], t0);
    store.send("emails", [json(4)], t0);
    store.lease("orders", 1, t0, policy);
    failRepeatedly(store, "emails", 3, t0, { ...policy, deadLetter: "emails-dlq" });
    store.clear();
    for (const queue of ["orders", "emails", "emails-dlq"]) {
      expect(store.stats(queue, t0 + day)).toEqual(empty);
      expect(store.nextDue(queue)).toBeUndefined();
    }
    const [id] = store.send("orders", [json(5)], t0);
    expect(ids(store.lease("orders", 10, t0, policy).messages)).toEqual([id]);
  });

  test("reopen: keeps waiting, delayed, in-flight and dead-lettered messages as they were", () => {
    let store = open();
    const [waiting, inFlight, crashed] = store.send(
      "orders",
      [json("waiting"), json("in flight"), json("crashed")],
      t0,
    );
    const [delayed] = store.send("orders", [json("delayed", 10 * second)], t0);
    const [dead] = store.send("emails", [json("dead")], t0);
    failRepeatedly(store, "emails", 3, t0, { ...policy, deadLetter: "emails-dlq" });
    // Leases "in flight" and "crashed" (and puts "waiting" back first, so it waits).
    const held = store.lease("orders", 3, t0, policy);
    store.settle(held.lease, [{ id: waiting!, retry: { delay: 0 } }], t0, policy);
    const before = {
      orders: store.stats("orders", t0),
      emails: store.stats("emails", t0),
      dlq: store.deadLettered("emails-dlq"),
      due: store.nextDue("orders"),
    };
    expect(before.orders).toEqual({ depth: 1, inFlight: 2, delayed: 1, deadLettered: 0 });

    store = reopen(store);
    expect({
      orders: store.stats("orders", t0),
      emails: store.stats("emails", t0),
      dlq: store.deadLettered("emails-dlq"),
      due: store.nextDue("orders"),
    }).toEqual(before);
    expect(ids(before.dlq)).toEqual([dead]);
    // The lease taken before the reopen still holds until its expiry.
    expect(store.settle(held.lease, [{ id: inFlight!, ack: true }], t0 + 29 * second, policy).acked).toEqual([
      inFlight,
    ]);
    expect(ids(store.lease("orders", 10, t0 + 10 * second, policy).messages)).toEqual([waiting, delayed]);
    // The one whose consumer died with the process is delivered again after the visibility timeout.
    expect(store.expireLeases("orders", t0 + 30 * second, policy)).toEqual([crashed]);
    expect(store.lease("orders", 10, t0 + 31 * second, policy).messages[0]).toMatchObject({ id: crashed, attempts: 2 });
  });

  test("reopen: after a kill -9 every committed change is there and nothing acked returns", () => {
    const store = new URL("./store.ts", import.meta.url).href;
    // The child sends 100, leases 10, acks 5, and kills itself without closing anything.
    const child = `
      import { QueueStore } from ${JSON.stringify(store)};
      const policy = ${JSON.stringify(policy)};
      const queue = new QueueStore({ file: ${JSON.stringify(file)} });
      const bytes = new TextEncoder().encode("{}");
      for (let n = 0; n < 10; n++) queue.send("orders", Array.from({ length: 10 }, () => ({ body: bytes, format: "json" })), ${t0});
      const { lease, messages } = queue.lease("orders", 10, ${t0}, policy);
      queue.settle(lease, messages.slice(0, 5).map((m) => ({ id: m.id, ack: true })), ${t0}, policy);
      process.stdout.write(JSON.stringify(messages.map((m) => m.id)));
      process.kill(process.pid, "SIGKILL");
    `;
    const run = spawnSync(
      process.execPath,
      ["--conditions=nimbus-source", "--disable-warning=ExperimentalWarning", "--input-type=module", "-e", child],
      { encoding: "utf8" },
    );
    expect(run.signal, run.stderr).toBe("SIGKILL");
    const leased = JSON.parse(run.stdout) as string[];
    const queue = open();
    expect(queue.stats("orders", t0)).toEqual({ ...empty, depth: 90, inFlight: 5 });
    expect(queue.expireLeases("orders", t0 + 30 * second, policy)).toEqual(leased.slice(5));
    const all = queue.lease("orders", 100, t0 + day, policy).messages;
    expect(all).toHaveLength(95);
    expect(ids(all).slice(0, 5)).toEqual(leased.slice(5));
    expect(ids(all).filter((id) => leased.slice(0, 5).includes(id))).toEqual([]);
  });

  test("two stores on one file: each sees the other's writes and no message is leased twice", () => {
    const one = open();
    const two = open();
    const sent = one.send(
      "orders",
      Array.from({ length: 10 }, (_, n) => json(n)),
      t0,
    );
    const a = one.lease("orders", 3, t0, policy);
    const b = two.lease("orders", 3, t0, policy);
    const c = one.lease("orders", 10, t0, policy);
    expect([...ids(a.messages), ...ids(b.messages), ...ids(c.messages)]).toEqual(sent);
    // A lease taken through one store is settled through the other.
    expect(two.settle(a.lease, [{ id: sent[0]!, ack: true }], t0, policy).acked).toEqual([sent[0]]);
    expect(one.stats("orders", t0)).toEqual({ ...empty, inFlight: 9 });
    expect(two.stats("orders", t0)).toEqual({ ...empty, inFlight: 9 });
  });

  test("two threads on one file: every message is leased exactly once between them", async () => {
    const total = 4_000;
    const store = open();
    for (let n = 0; n < total; n += 100) {
      store.send(
        "orders",
        Array.from({ length: 100 }, (_, i) => json(n + i)),
        t0,
      );
    }
    const code = `
      import { parentPort, workerData } from "node:worker_threads";
      const { QueueStore } = await import(workerData.store);
      const queue = new QueueStore({ file: workerData.file });
      const seen = [];
      for (;;) {
        const { lease, messages } = queue.lease("orders", 10, workerData.now, workerData.policy);
        if (messages.length === 0) break;
        queue.settle(lease, messages.map((m) => ({ id: m.id, ack: true })), workerData.now, workerData.policy);
        for (const m of messages) seen.push(JSON.parse(new TextDecoder().decode(m.body)));
      }
      queue.close();
      parentPort.postMessage(seen);
    `;
    const run = () =>
      new Promise<number[]>((resolve, reject) => {
        const worker = new Worker(code, {
          eval: true,
          execArgv: ["--conditions=nimbus-source", "--disable-warning=ExperimentalWarning"],
          workerData: { store: pathToFileURL(join(import.meta.dirname, "store.ts")).href, file, now: t0, policy },
        });
        worker.once("message", resolve);
        worker.once("error", reject);
      });
    const [first, second] = await Promise.all([run(), run()]);
    const all = [...first, ...second].sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: total }, (_, n) => n));
    // Each thread got its messages in send order.
    for (const seen of [first, second]) expect(seen).toEqual([...seen].sort((x, y) => x - y));
    expect(store.stats("orders", t0)).toEqual(empty);
  });

  test("volume: 20,000 messages sent in batches and leased 100 at a time are delivered once each, in order", () => {
    const store = open();
    const total = 20_000;
    const started = performance.now();
    for (let n = 0; n < total; n += 100) {
      store.send(
        "orders",
        Array.from({ length: 100 }, (_, i) => json({ n: n + i, pad: "x".repeat(100) })),
        t0 + n,
      );
    }
    const sent = performance.now();
    const delivered: number[] = [];
    let now = t0 + total;
    for (;;) {
      const { lease, messages } = store.lease("orders", 100, now, policy);
      if (messages.length === 0) break;
      for (const message of messages) delivered.push((JSON.parse(decoder.decode(message.body)) as { n: number }).n);
      const result = store.settle(
        lease,
        messages.map((message) => ({ id: message.id, ack: true as const })),
        now,
        policy,
      );
      expect(result.acked).toHaveLength(messages.length);
      now += 1;
    }
    const done = performance.now();
    console.log(
      `queue store volume: ${total} messages sent in ${(sent - started).toFixed(0)} ms, leased and acked in ${(done - sent).toFixed(0)} ms`,
    );
    expect(delivered).toEqual(Array.from({ length: total }, (_, n) => n));
    expect(store.stats("orders", now)).toEqual(empty);
  });

  test("send: rough speed, one message per call and 100 per call", () => {
    // Not an assertion on speed (machines differ): printed so a regression is visible.
    const store = open();
    const message = json({ order: 42, items: ["a", "b"], note: "x".repeat(200) });
    const single = 5_000;
    let started = performance.now();
    for (let n = 0; n < single; n++) store.send("single", [message], t0);
    const singleRate = single / ((performance.now() - started) / 1000);
    const batched = 50_000;
    const batch = Array.from({ length: 100 }, () => message);
    started = performance.now();
    for (let n = 0; n < batched; n += 100) store.send("batched", batch, t0);
    const batchedRate = batched / ((performance.now() - started) / 1000);
    console.log(
      `queue store send: ${Math.round(singleRate)} messages/s one per call, ${Math.round(batchedRate)} messages/s 100 per call`,
    );
    expect(store.stats("single", t0).depth).toBe(single);
    expect(store.stats("batched", t0).depth).toBe(batched);
  });
});
