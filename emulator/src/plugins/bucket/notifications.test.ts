import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type BucketEventDetail,
  type BucketNotificationSpec,
  type Chain,
  NimbusError,
  type PutEntry,
  type ResourceOf,
} from "@nimbus/core";
import { bucketClient } from "@nimbus/runtime/target";
import { type BucketEntry, BucketRegistry, BucketStore, bucketDir } from "@nimbus/store";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { BucketNotifier } from "./notifications.ts";
import { storeTransport } from "./transport.ts";

const start = Date.UTC(2030, 0, 1, 12);
let root: string;
let opened: BucketStore[];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "nimbus-bucket-notify-"));
  opened = [];
});

afterEach(() => {
  for (const store of opened) store.close();
  rmSync(root, { recursive: true, force: true });
});

function open(name = "receipts", now: () => number = () => start): BucketStore {
  const store = new BucketStore({ name, dir: join(root, name), now });
  opened.push(store);
  return store;
}

function notification(bus: string, options: Partial<BucketNotificationSpec> = {}): BucketNotificationSpec {
  return { bus, events: ["created", "deleted"], prefix: "", suffix: "", ...options };
}

/** A declared bucket whose store records its changes. */
function bucket(notifications: BucketNotificationSpec[], store = open()): BucketEntry {
  store.setNotifying(true);
  return { name: store.name, store, declared: true, spec: { notifications } };
}

interface Put {
  bus: string;
  entries: PutEntry<BucketEventDetail>[];
  chain?: Chain;
}

/** A notifier whose buses collect what is put on them; `put` may be replaced to fail or wait. */
function harness() {
  const puts: Put[] = [];
  const logs: { level: string; message: string }[] = [];
  const state = {
    put: async (bus: string, entries: PutEntry<BucketEventDetail>[], chain?: Chain): Promise<unknown> => {
      puts.push({ bus, entries, ...(chain ? { chain } : {}) });
      return undefined;
    },
  };
  const notifier = new BucketNotifier({
    put: (bus, entries, chain) => state.put(bus, entries, chain),
    log: (level, message) => logs.push({ level, message }),
  });
  const keys = (bus?: string) =>
    puts
      .filter((put) => bus === undefined || put.bus === bus)
      .flatMap((put) =>
        put.entries.map((entry) => `${entry.detailType === "Object Created" ? "+" : "-"}${entry.detail.object.key}`),
      );
  return { notifier, puts, logs, state, keys };
}

describe("drain", () => {
  test("drain: each put carries the chain of the writes it notifies, in commit order (§loops/1)", async () => {
    const entry = bucket([notification("orders")]);
    const { notifier, puts } = harness();
    const c1 = { id: "c1", depth: 2 };
    await entry.store.put("a", Buffer.from("x"), { chain: c1 });
    await entry.store.put("b", Buffer.from("x"), { chain: c1 });
    await entry.store.put("c", Buffer.from("x"));
    entry.store.delete(["a"], { chain: c1 });
    await notifier.drain(entry);
    expect(puts.map((put) => [put.entries.map((e) => e.detail.object.key), put.chain])).toEqual([
      [["a", "b"], c1],
      [["c"], undefined],
      [["a"], c1],
    ]);
  });

  test("drain: puts an event per change, shaped as S3's, with the commit time, then empties the outbox", async () => {
    const clock = { time: start };
    const entry = bucket(
      [notification("orders")],
      open("receipts", () => clock.time),
    );
    const { notifier, puts } = harness();
    const created = await entry.store.put("receipts/a.json", Buffer.from("{}"));
    clock.time = start + 1500;
    entry.store.delete(["receipts/a.json"]);
    await notifier.drain(entry);
    expect(puts).toEqual([
      {
        bus: "orders",
        entries: [
          {
            source: "nimbus.bucket",
            detailType: "Object Created",
            detail: {
              bucket: { name: "receipts" },
              object: { key: "receipts/a.json", size: 2, etag: created.etag },
              reason: "PutObject",
            },
            resources: ["receipts"],
            time: "2030-01-01T12:00:00.000Z",
          },
          {
            source: "nimbus.bucket",
            detailType: "Object Deleted",
            detail: {
              bucket: { name: "receipts" },
              object: { key: "receipts/a.json", size: 2, etag: created.etag },
              reason: "DeleteObject",
            },
            resources: ["receipts"],
            time: "2030-01-01T12:00:01.500Z",
          },
        ],
      },
    ]);
    expect(entry.store.changes()).toEqual([]);
  });

  test("drain: only keys with the notification's prefix and suffix, and only its kinds of change, make events", async () => {
    const entry = bucket([
      notification("created", { events: ["created"], prefix: "receipts/", suffix: ".json" }),
      notification("deleted", { events: ["deleted"] }),
    ]);
    const { notifier, keys } = harness();
    for (const key of ["receipts/a.json", "receipts/a.txt", "other/a.json", "receipts/.json", "a.json"]) {
      await entry.store.put(key, Buffer.from("x"));
    }
    entry.store.delete(["receipts/a.json", "other/a.json"]);
    await notifier.drain(entry);
    expect(keys("created")).toEqual(["+receipts/a.json", "+receipts/.json"]);
    expect(keys("deleted")).toEqual(["-receipts/a.json", "-other/a.json"]);
  });

  test("drain: a change matching two notifications gives an entry per notification", async () => {
    const entry = bucket([
      notification("audit"),
      notification("orders", { prefix: "r" }),
      notification("audit", { suffix: "1" }),
    ]);
    const { notifier, puts } = harness();
    await entry.store.put("r1", Buffer.from("x"));
    await entry.store.put("r2", Buffer.from("x"));
    await notifier.drain(entry);
    expect(puts.map((put) => [put.bus, put.entries.map((e) => e.detail.object.key)])).toEqual([
      ["audit", ["r1", "r1", "r2"]],
      ["orders", ["r1", "r2"]],
    ]);
  });

  test("drain: puts at most 10 entries per call, every change once, in commit order across pages", async () => {
    const entry = bucket([notification("orders")]);
    const { notifier, puts, keys } = harness();
    const written: string[] = [];
    for (let i = 0; i < 215; i++) {
      const key = `k${String(i).padStart(3, "0")}`;
      await entry.store.put(key, Buffer.from("x"));
      written.push(`+${key}`);
      if (i % 7 === 0) {
        entry.store.delete([key]);
        written.push(`-${key}`);
      }
    }
    await notifier.drain(entry);
    expect(keys()).toEqual(written);
    expect(Math.max(...puts.map((put) => put.entries.length))).toBe(10);
    expect(entry.store.changes()).toEqual([]);
  });

  test("drain: a change is dropped from the outbox only after its put resolved", async () => {
    const entry = bucket([notification("orders")]);
    const { notifier, state } = harness();
    await entry.store.put("a", Buffer.from("x"));
    const put = Promise.withResolvers<void>();
    const called = Promise.withResolvers<void>();
    state.put = async () => {
      called.resolve();
      await put.promise;
    };
    const drained = notifier.drain(entry);
    await called.promise;
    expect(entry.store.changes().map((change) => change.key)).toEqual(["a"]);
    put.resolve();
    await drained;
    expect(entry.store.changes()).toEqual([]);
  });

  test("drain: a bucket without notifications, or a scratch bucket, drops its changes and puts nothing", async () => {
    const { notifier, puts } = harness();
    const none = bucket([], open("none"));
    await none.store.put("a", Buffer.from("x"));
    const scratch: BucketEntry = { name: "scratch", store: open("scratch"), declared: false };
    scratch.store.setNotifying(true);
    await scratch.store.put("a", Buffer.from("x"));
    await notifier.drain(none);
    await notifier.drain(scratch);
    expect(puts).toEqual([]);
    expect(none.store.changes()).toEqual([]);
    expect(scratch.store.changes()).toEqual([]);
  });

  test("drain: a request while a drain runs makes it go round again: no change lost, none put twice", async () => {
    const entry = bucket([notification("orders")]);
    const { notifier, state, keys } = harness();
    const collect = state.put;
    const release = Promise.withResolvers<void>();
    const waiting = Promise.withResolvers<void>();
    state.put = async (bus, entries) => {
      waiting.resolve();
      await release.promise;
      return collect(bus, entries);
    };
    await entry.store.put("first", Buffer.from("x"));
    const one = notifier.drain(entry);
    await waiting.promise;
    // Written, as by a worker, while the first page is on its way to the bus.
    const worker = open();
    await worker.put("second", Buffer.from("x"));
    const two = notifier.drain(entry);
    const three = notifier.drain(entry);
    // A later request resolves only once what was written before it is on the bus.
    let putWhenTwoResolved: string[] = [];
    void two.then(() => {
      putWhenTwoResolved = keys();
    });
    release.resolve();
    await Promise.all([one, two, three]);
    expect(putWhenTwoResolved).toEqual(["+first", "+second"]);
    expect(keys()).toEqual(["+first", "+second"]);
    expect(entry.store.changes()).toEqual([]);
    await notifier.drain(entry);
    expect(keys()).toEqual(["+first", "+second"]);
  });

  test("drain: drains of two buckets run side by side, each in its own order", async () => {
    const a = bucket([notification("orders")], open("a"));
    const b = bucket([notification("orders")], open("b"));
    const { notifier, puts } = harness();
    for (let i = 0; i < 3; i++) {
      await a.store.put(`a${i}`, Buffer.from("x"));
      await b.store.put(`b${i}`, Buffer.from("x"));
    }
    await Promise.all([notifier.drain(a), notifier.drain(b)]);
    const keysOf = (name: string) =>
      puts.flatMap((put) => put.entries.filter((e) => e.detail.bucket.name === name).map((e) => e.detail.object.key));
    expect(keysOf("a")).toEqual(["a0", "a1", "a2"]);
    expect(keysOf("b")).toEqual(["b0", "b1", "b2"]);
  });

  test("drain: an event the bus refuses is logged naming the bucket, key and bus, and dropped alone; the rest are put", async () => {
    const entry = bucket([notification("strict", { prefix: "r/" }), notification("orders")]);
    const { notifier, state, logs, keys } = harness();
    const collect = state.put;
    state.put = async (bus, entries) => {
      // A bus whose schema names only deletions, as BusPlugin refuses a put: all or none.
      if (bus === "strict" && entries.some((e) => e.detailType === "Object Created")) {
        throw new NimbusError("NIMBUS_BUS_SCHEMA", 'bus "strict": entry 1 has detailType "Object Created"');
      }
      return collect(bus, entries);
    };
    await entry.store.put("r/a.json", Buffer.from("x"));
    await entry.store.put("b.json", Buffer.from("x"));
    await entry.store.delete(["r/a.json"]);
    await notifier.drain(entry);
    expect(keys("orders")).toEqual(["+r/a.json", "+b.json", "-r/a.json"]);
    // The deletion was in the refused batch, and still reached the bus.
    expect(keys("strict")).toEqual(["-r/a.json"]);
    expect(logs).toEqual([
      {
        level: "error",
        message:
          'bucket receipts: the event for "r/a.json" could not be put on bus strict, so it was dropped: bus "strict": entry 1 has detailType "Object Created"',
      },
    ]);
    expect(entry.store.changes()).toEqual([]);
  });

  test("drain: a put that fails for another reason (no such bus yet) keeps the changes for the next drain", async () => {
    const entry = bucket([notification("fresh")]);
    const { notifier, state, logs, keys } = harness();
    const collect = state.put;
    let up = false;
    state.put = async (bus, entries) => {
      if (!up) throw new NimbusError("NIMBUS_EMULATOR_UNKNOWN_BUS", 'The app has no bus "fresh"');
      return collect(bus, entries);
    };
    await entry.store.put("a", Buffer.from("x"));
    await notifier.drain(entry);
    expect(logs).toEqual([{ level: "warn", message: expect.stringContaining('The app has no bus "fresh"') }]);
    expect(entry.store.changes()).toHaveLength(1);
    up = true;
    await notifier.drain(entry);
    expect(keys("fresh")).toEqual(["+a"]);
    expect(entry.store.changes()).toEqual([]);
  });

  test("drain: a store that fails is logged and the drain ends; the changes stay for the next drain", async () => {
    const entry = bucket([notification("orders")]);
    const { notifier, logs, keys } = harness();
    await entry.store.put("a", Buffer.from("x"));
    const closed: BucketEntry = { ...entry, store: open() };
    closed.store.close();
    await notifier.drain(closed);
    expect(logs).toEqual([
      { level: "warn", message: expect.stringContaining("bucket receipts: its changes could not be notified now") },
    ]);
    await notifier.drain(entry);
    expect(keys()).toEqual(["+a"]);
  });

  test("clear: changes made before a reset are not notified", async () => {
    const entry = bucket([notification("orders")]);
    const { notifier, puts } = harness();
    await entry.store.put("a", Buffer.from("x"));
    entry.store.clear();
    await notifier.drain(entry);
    expect(puts).toEqual([]);
  });

  test("drain: changes left by a store closed without draining (a crash) are put by a new store and notifier", async () => {
    const before = open();
    before.setNotifying(true);
    await before.put("a", Buffer.from("x"));
    before.delete(["a"]);
    before.close();
    const entry = bucket([notification("orders")], open());
    const { notifier, keys } = harness();
    await notifier.drain(entry);
    expect(keys()).toEqual(["+a", "-a"]);
  });
});

describe("registry", () => {
  function resource(name: string, notifications: BucketNotificationSpec[]): ResourceOf<"bucket"> {
    return { kind: "bucket", name, spec: { notifications } };
  }

  function registryOf(changed: string[]) {
    const registry = new BucketRegistry({
      stateDir: root,
      now: () => start,
      onChange: (entry) => changed.push(entry.name),
    });
    return registry;
  }

  /** A store on the bucket's folder, as a function's worker opens it. */
  function workerStore(name: string): BucketStore {
    const store = new BucketStore({ name, dir: bucketDir(root, name), now: () => start });
    opened.push(store);
    return store;
  }

  test("apply: buckets declared with notifications record changes; those without, and scratch buckets, do not", async () => {
    const changed: string[] = [];
    const registry = registryOf(changed);
    try {
      registry.apply([resource("receipts", [notification("orders")]), resource("plain", [])], true);
      const scratch = registry.create("scratch");
      await registry.get("receipts")!.store.put("a", Buffer.from("x"));
      await registry.get("plain")!.store.put("a", Buffer.from("x"));
      await scratch.store.put("a", Buffer.from("x"));
      expect(changed).toEqual(["receipts"]);
      expect(registry.get("receipts")!.store.changes()).toHaveLength(1);
      expect(registry.get("plain")!.store.changes()).toEqual([]);
      expect(scratch.store.changes()).toEqual([]);
    } finally {
      registry.close();
    }
  });

  test("apply: a reload that adds or removes a bucket's notifications turns recording on or off, for a worker's store too", async () => {
    const registry = registryOf([]);
    try {
      registry.apply([resource("receipts", [])], true);
      const worker = workerStore("receipts");
      await worker.put("before", Buffer.from("x"));
      registry.apply([resource("receipts", [notification("orders")])], false);
      await worker.put("on", Buffer.from("x"));
      registry.apply([], false);
      await worker.put("undeclared", Buffer.from("x"));
      expect(
        registry
          .get("receipts")!
          .store.changes()
          .map((change) => change.key),
      ).toEqual(["on"]);
    } finally {
      registry.close();
    }
  });

  test("apply: a bucket declared with notifications in an earlier run and found on disk as a scratch bucket records nothing", async () => {
    const first = registryOf([]);
    first.apply([resource("receipts", [notification("orders")])], true);
    first.close();
    const registry = registryOf([]);
    try {
      registry.apply([], true);
      const entry = registry.get("receipts")!;
      expect(entry.declared).toBe(false);
      await entry.store.put("a", Buffer.from("x"));
      expect(entry.store.changes()).toEqual([]);
    } finally {
      registry.close();
    }
  });

  test("reset: empties the outbox of a declared bucket with its objects", async () => {
    const registry = registryOf([]);
    try {
      registry.apply([resource("receipts", [notification("orders")])], true);
      await registry.get("receipts")!.store.put("a", Buffer.from("x"));
      registry.reset();
      expect(registry.get("receipts")!.store.changes()).toEqual([]);
    } finally {
      registry.close();
    }
  });
});

describe("binding", () => {
  function client(store: BucketStore, calls: number[]) {
    return bucketClient(
      store.name,
      storeTransport(
        () => store,
        async () => "",
        async () => {
          calls.push(store.changes().length);
        },
      ),
    );
  }

  test("put: calls changed once the change is committed, and only for a write that recorded one", async () => {
    const store = open();
    const calls: number[] = [];
    const bucket = client(store, calls);
    await bucket.put("off", "x");
    store.setNotifying(true);
    await bucket.put("a", "x");
    await expect(bucket.put("a", "y", { onlyIf: { etagDoesNotMatch: "*" } })).rejects.toThrow();
    expect(calls).toEqual([1]);
  });

  test("delete: calls changed after deleting a key that existed, not for a missing one", async () => {
    const store = open();
    const calls: number[] = [];
    const bucket = client(store, calls);
    await store.put("a", Buffer.from("x"));
    store.setNotifying(true);
    await bucket.delete("missing");
    await bucket.delete(["a", "missing"]);
    expect(calls).toEqual([1]);
  });

  test("put: two writes in flight at once each call changed", async () => {
    const store = open();
    store.setNotifying(true);
    const calls: number[] = [];
    const bucket = client(store, calls);
    await Promise.all([bucket.put("a", "x"), bucket.put("b", "x"), bucket.delete("missing")]);
    expect(calls).toHaveLength(2);
  });

  test("put: a binding without changed writes as before", async () => {
    const store = open();
    store.setNotifying(true);
    const bucket = bucketClient(
      store.name,
      storeTransport(
        () => store,
        async () => "",
      ),
    );
    await bucket.put("a", "x");
    expect(store.changes()).toHaveLength(1);
  });
});
