// The event-bus contract of docs/semantics.md ("Event buses"), driven through the emulator
// with a manual clock, against test/fixtures/bus. Titles name the statement they check
// (§bus/<subsection>/<n>).
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NimbusEvent } from "@nimbus/core";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import type { BusEntry } from "@nimbus/runtime";
import { afterAll, describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";
import { runCliAsync } from "./support/cli.ts";
import { startDev } from "./support/dev.ts";
import { editApp, emulatorSuite, noMessages, restartOnDevState, uniqueNames } from "./support/suite.ts";

let emu: Emulator;
let root: string;
emulatorSuite("bus", {
  started: (started, dir) => {
    emu = started;
    root = dir;
  },
});

/** A name no other test uses. */
const uid = uniqueNames();

const zero = noMessages;
const stats = (queue: string, emulator = emu) => emulator.queue(queue).stats();

type Entry = BusEntry;
type Detail = { key?: string; total?: number; fail?: string; retry?: boolean; pad?: string; [field: string]: unknown };

/** An `OrderPaid` entry from `shop`: `orders/paid` delivers it to `flaky` and `recorder`. */
const order = (key: string, detail: Omit<Detail, "key"> = {}): Entry => ({
  source: "shop",
  detailType: "OrderPaid",
  detail: { key, ...detail },
});

/** An entry of `detailType` from `test`, for the rules that match on detail-type alone. */
const entry = (detailType: string, detail: Detail = {}): Entry => ({ source: "test", detailType, detail });

const put = (bus: string, entries: Entry[], emulator = emu) => emulator.bus(bus).put(entries);

/** Every object under `prefix`, parsed as JSON, oldest first (by upload time, then key). */
async function records<T>(prefix: string, emulator = emu): Promise<{ key: string; at: number; value: T }[]> {
  const bucket = emulator.bucket("results");
  const { objects } = await bucket.list({ prefix });
  const sorted = objects.sort((a, b) => a.uploaded.getTime() - b.uploaded.getTime() || a.key.localeCompare(b.key));
  return Promise.all(
    sorted.map(async (o) => ({
      key: o.key,
      at: o.uploaded.getTime(),
      value: JSON.parse(await (await bucket.get(o.key))!.text()) as T,
    })),
  );
}

/** The deliveries of event `id` to `recorder`: the event each one got. */
const got = async (id: string, emulator = emu) =>
  (await records<NimbusEvent<Detail>>(`got/${id}/`, emulator)).map((r) => r.value);

/** When `flaky` was tried with the event of `key`: clock times in ms, in order. */
const tries = async (key: string, emulator = emu) => (await records(`tries/${key}/`, emulator)).map((r) => r.at);

/** Lets `flaky` succeed from now on for the event of `key`. */
const fix = (key: string, emulator = emu) => emulator.bucket("results").put(`fixed/${key}`, "");

/** The log messages written since `mark` (an earlier `emu.logs.length`) that match. */
const loggedSince = (mark: number, pattern: RegExp, emulator = emu) =>
  emulator.logs.slice(mark).filter((entry) => pattern.test(entry.message));

/** Resolves once the async `check` holds, polling; for work that runs in real time (a held run). */
async function until(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await check()); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** An ISO time as EventBridge writes it: UTC, to the second. */
const toSecond = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe("bus: putting events", () => {
  it("put: takes 0 to 10 entries and resolves with one id per entry, in entry order (§bus/put/1)", async () => {
    expect(await put("back", [])).toEqual({ ids: [] });
    const keys = Array.from({ length: 10 }, () => uid("ten"));
    const { ids } = await put(
      "back",
      keys.map((key) => entry("Ten", { key })),
    );
    expect(ids).toHaveLength(10);
    expect(new Set(ids).size).toBe(10);
    await emu.idle();
    for (const [index, id] of ids.entries()) {
      expect(id).toMatch(uuid);
      expect((await got(id)).map((event) => event.detail.key)).toEqual([keys[index]]);
    }
  });

  it("put: each entry becomes an EventBridge-shaped event: new UUID, the entry's time or now to the second in UTC, resources default [] (§bus/put/2)", async () => {
    await emu.clock.advance(1_234);
    const now = emu.clock.now();
    const { ids } = await put("back", [
      { source: "shop.api", detailType: "OrderPaid", detail: { total: 5, lines: [{ sku: "a" }] } },
      { source: "s", detailType: "T", detail: null, resources: ["r-1", "r-2"], time: "2026-03-04T06:07:08.999+01:00" },
      { source: "s", detailType: "T", detail: "text", time: new Date(Date.UTC(2025, 0, 2, 3, 4, 5, 600)) },
    ]);
    await emu.idle();
    const [first, second, third] = ids as [string, string, string];
    expect(await got(first)).toEqual([
      {
        version: "0",
        id: first,
        "detail-type": "OrderPaid",
        source: "shop.api",
        account: "000000000000",
        time: toSecond(now),
        region: "local",
        resources: [],
        detail: { total: 5, lines: [{ sku: "a" }] },
      },
    ]);
    expect(await got(second)).toEqual([
      expect.objectContaining({ id: second, time: "2026-03-04T05:07:08Z", resources: ["r-1", "r-2"], detail: null }),
    ]);
    expect(await got(third)).toEqual([
      expect.objectContaining({ id: third, time: "2025-01-02T03:04:05Z", resources: [], detail: "text" }),
    ]);
    for (const id of ids) expect(id).toMatch(uuid);
  });

  it("put: a bad entry fails the whole put with NIMBUS_BUS_ENTRY naming the bus, the entry and the field; nothing of it is delivered (§bus/put/3)", async () => {
    const valid = order(uid("valid"), { total: 500 });
    const cases: [string, unknown, RegExp][] = [
      ["no source", { detailType: "T", detail: {} }, /source/],
      ["an empty source", { source: "", detailType: "T", detail: {} }, /source/],
      ["no detailType", { source: "s", detail: {} }, /detailType/],
      ["an empty detailType", { source: "s", detailType: "", detail: {} }, /detailType/],
      ["no detail", { source: "s", detailType: "T" }, /detail/],
      ["detail-type", { source: "s", "detail-type": "T", detail: {} }, /"detail-type"/],
      ["Source", { Source: "s", detailType: "T", detail: {} }, /"Source"/],
      ["a time that is no date", { source: "s", detailType: "T", detail: {}, time: "yesterday" }, /time/],
      ["an invalid Date", { source: "s", detailType: "T", detail: {}, time: new Date(Number.NaN) }, /time/],
      ["a time that is a number", { source: "s", detailType: "T", detail: {}, time: 5 }, /time/],
      ["resources that are no list", { source: "s", detailType: "T", detail: {}, resources: "r" }, /resources/],
      ["an unknown field", { source: "s", detailType: "T", detail: {}, colour: "red" }, /colour/],
    ];
    for (const [what, bad, field] of cases) {
      const rejected = await put("orders", [valid, bad as Entry]).then(
        () => undefined,
        (error: { code?: string; message: string }) => error,
      );
      expect(rejected?.code, what).toBe("NIMBUS_BUS_ENTRY");
      expect(rejected?.message, what).toMatch(/^bus "orders": entry 2\b/);
      expect(rejected?.message, what).toMatch(field);
    }
    await emu.idle();
    expect(await records("got/")).toEqual([]);
    expect(await records("tries/")).toEqual([]);
  });

  it("put: more than 10 entries fail with NIMBUS_BUS_ENTRIES; an entry over 256 KiB as JSON with NIMBUS_BUS_ENTRY_TOO_LARGE; exactly 256 KiB is taken (§bus/put/3, §bus/limits)", async () => {
    const valid = order(uid("valid"), { total: 500 });
    await expect(
      put(
        "orders",
        Array.from({ length: 11 }, () => valid),
      ),
    ).rejects.toMatchObject({
      code: "NIMBUS_BUS_ENTRIES",
      message: expect.stringMatching(/^bus "orders": .*at most 10 entries.*found 11/),
    });

    // Nothing matches `nobody`'s events: the one that is taken is dropped.
    const sized = (bytes: number): Entry => {
      const shell = { source: "nobody", detailType: "Big", detail: { pad: "" } };
      return { ...shell, detail: { pad: "x".repeat(bytes - Buffer.byteLength(JSON.stringify(shell))) } };
    };
    await expect(put("orders", [valid, sized(256 * 1024 + 1)])).rejects.toMatchObject({
      code: "NIMBUS_BUS_ENTRY_TOO_LARGE",
      message: expect.stringMatching(/^bus "orders": entry 2 is 262,145 bytes as JSON; an entry is at most 262,144/),
    });
    await emu.idle();
    expect(await records("got/")).toEqual([]);
    expect(await records("tries/")).toEqual([]);

    expect((await put("orders", [sized(256 * 1024)])).ids).toHaveLength(1);
  });

  it("put (binding): a function's put resolves with the ids; a bad put rejects in the handler with the code and a message naming the bus, the entry and the field (§bus/put/1, §bus/put/3-4)", async () => {
    const post = async (bus: string, entries: unknown) => {
      const response = await emu.fetch(`/put/${bus}`, { method: "POST", body: JSON.stringify(entries) });
      return { status: response.status, body: (await response.json()) as { ids?: string[]; error?: unknown } };
    };
    const key = uid("binding");
    const good = await post("orders", [order(key)]);
    expect(good.status).toBe(200);
    expect(good.body.ids).toEqual([expect.stringMatching(uuid)]);
    await emu.idle();
    const [id] = good.body.ids!;
    expect(await got(id!)).toEqual([expect.objectContaining({ id, source: "shop", detail: { key } })]);
    expect(await tries(key)).toHaveLength(1);

    const valid = order(uid("not-delivered"));
    expect(await post("orders", [valid, { source: "shop", "detail-type": "OrderPaid", detail: {} }])).toEqual({
      status: 400,
      body: {
        error: {
          code: "NIMBUS_BUS_ENTRY",
          message: expect.stringMatching(
            /^bus "orders": entry 2 has a field "detail-type"; entries name it detailType/,
          ),
        },
      },
    });
    expect(await post("orders", [valid, { source: "shop", detailType: "OrderPaid" }])).toEqual({
      status: 400,
      body: {
        error: { code: "NIMBUS_BUS_ENTRY", message: expect.stringMatching(/^bus "orders": entry 2 .*\bdetail\b/) },
      },
    });
    expect(
      await post(
        "orders",
        Array.from({ length: 11 }, () => valid),
      ),
    ).toMatchObject({
      status: 400,
      body: { error: { code: "NIMBUS_BUS_ENTRIES", message: expect.stringMatching(/^bus "orders": /) } },
    });
    expect(await post("typed", [{ source: "t", detailType: "Known", detail: { id: 1 } }])).toEqual({
      status: 400,
      body: {
        error: {
          code: "NIMBUS_BUS_SCHEMA",
          message: expect.stringMatching(
            /^bus "typed": entry 1 \(Known\) does not match the bus's schema \(detail\.id: /,
          ),
        },
      },
    });
    await emu.idle();
    expect(await records("got/")).toHaveLength(1);
  });

  it("put: a bus with a schema takes only the detail-types it names, each detail checked; a mismatch fails the put with NIMBUS_BUS_SCHEMA (§bus/put/4)", async () => {
    const known = { source: "t", detailType: "Known", detail: { id: "a" } };
    await expect(
      put("typed", [known, { source: "t", detailType: "Unknown", detail: { id: "a" } }]),
    ).rejects.toMatchObject({
      code: "NIMBUS_BUS_SCHEMA",
      message: expect.stringMatching(
        /^bus "typed": entry 2 has detailType "Unknown", which the bus's schema does not name \(it takes "Known"\)/,
      ),
    });
    await expect(put("typed", [known, { ...known, detail: { id: 7 } }])).rejects.toMatchObject({
      code: "NIMBUS_BUS_SCHEMA",
      message: expect.stringMatching(/^bus "typed": entry 2 \(Known\) does not match the bus's schema \(detail\.id: /),
    });
    await emu.idle();
    expect(await records("got/")).toEqual([]);

    const { ids } = await put("typed", [known]);
    await emu.idle();
    expect(await got(ids[0]!)).toEqual([expect.objectContaining({ "detail-type": "Known", detail: { id: "a" } })]);
  });

  it("put: once it resolves, the deliveries of its events are stored, through every matching rule (and forwarding bus) to every target (§bus/put/5)", async () => {
    // `front` forwards to `back`, whose rule stores the event in `parked`: before any delivery has run.
    await put("front", [entry("Stored")]);
    expect(stats("parked")).toEqual({ ...zero, depth: 1 });
    await put("orders", [entry("Park"), entry("Park"), entry("Tap")]);
    expect(stats("parked")).toEqual({ ...zero, depth: 3 });
    const { depth, inFlight } = stats("tap");
    expect(depth + inFlight).toBe(1);
  });
});

describe("bus: matching", () => {
  it("put: each event is matched against every rule with the pattern language; a target of two matching rules gets it twice; `nimbus explain` tells why (§bus/matching/1, §bus/matching/3)", async () => {
    const [big, small] = [uid("big"), uid("small")];
    const { ids } = await put("orders", [order(big, { total: 150 }), order(small, { total: 50 })]);
    await emu.idle();
    const [bigEvents, smallEvents] = [await got(ids[0]!), await got(ids[1]!)];
    // `orders/paid` and `orders/big` both deliver to `recorder`; `orders/big` wants a total of 100 or more.
    expect(bigEvents).toHaveLength(2);
    expect(smallEvents).toHaveLength(1);
    expect(await tries(big)).toHaveLength(1);
    expect(await tries(small)).toHaveLength(1);

    const files = await mkdtemp(join(tmpdir(), "nimbus-bus-"));
    try {
      await writeFile(join(files, "big.json"), JSON.stringify(bigEvents[0]));
      await writeFile(join(files, "small.json"), JSON.stringify(smallEvents[0]));
      const [matches, not] = await Promise.all([
        runCliAsync(["explain", root, "orders/big", join(files, "big.json")]),
        runCliAsync(["explain", root, "orders/big", join(files, "small.json")]),
      ]);
      expect(matches).toEqual({ status: 0, stderr: "", stdout: "✔ orders/big matches the event\n" });
      expect(not.status).toBe(1);
      expect(not.stdout.split("\n")[0]).toBe(
        '✖ orders/big does not match: at detail.total, numeric [">=", 100]: 50 is not >= 100',
      );
    } finally {
      await rm(files, { recursive: true, force: true });
    }
  });

  it("put: an event that matches no rule is dropped; the log has a line per event naming the rules it matched, or no rule (§bus/matching/2, §bus/matching/4)", async () => {
    const mark = emu.logs.length;
    const { ids } = await put("orders", [
      { source: "nobody", detailType: "Nothing", detail: {} },
      order(uid("both"), { total: 100 }),
    ]);
    await emu.idle();
    const lines = (id: string) => loggedSince(mark, new RegExp(`^bus orders: event ${id} `)).map((e) => e.message);
    expect(lines(ids[0]!)).toEqual([`bus orders: event ${ids[0]} (Nothing from nobody) matched no rule`]);
    const [matched] = lines(ids[1]!);
    expect(matched).toMatch(new RegExp(`^bus orders: event ${ids[1]} \\(OrderPaid from shop\\) matched `));
    expect(matched!.split(" matched ")[1]!.split(", ").sort()).toEqual(["orders/big", "orders/paid"]);

    expect(await got(ids[0]!)).toEqual([]);
    expect(stats("parked")).toEqual(zero);
    expect(stats("orders-dlq")).toEqual(zero);
    await emu.clock.advance("1h");
    expect(await got(ids[0]!)).toEqual([]);
  });
});

describe("bus: delivery", () => {
  it("rule → queue: the queue gets the whole event as one JSON message when it is put; from then on the queue's own retry policy holds (§bus/delivery/1)", async () => {
    const { ids } = await put("orders", [entry("Tap", { retry: true })]);
    await emu.idle();
    const batches = async () =>
      (await records<{ id: string; attempts: number; body: unknown }[]>("queued/tap/")).map((r) => r.value);
    const [first] = await batches();
    expect(first).toEqual([
      {
        id: expect.stringMatching(uuid),
        attempts: 1,
        body: {
          version: "0",
          id: ids[0],
          "detail-type": "Tap",
          source: "test",
          account: "000000000000",
          time: toSecond(emu.clock.now()),
          region: "local",
          resources: [],
          detail: { retry: true },
        },
      },
    ]);
    // `tap` retries after its own 3 s, not after the bus's 10 s.
    await emu.clock.advance(2_999);
    expect(await batches()).toHaveLength(1);
    await emu.clock.advance(1);
    const [, second] = await batches();
    expect(second).toEqual([{ ...first![0]!, attempts: 2 }]);
    expect(stats("tap")).toEqual(zero);
    expect(stats("orders-dlq")).toEqual(zero);
  });

  it("rule → function: deliveries of one rule run up to the function's concurrency at once, started in the order they were stored (§bus/delivery/2, §bus/ordering/2)", async () => {
    const keys = [uid("gate"), uid("gate"), uid("gate")];
    await put(
      "orders",
      keys.map((key) => entry("Gate", { key })),
    );
    const started = async () =>
      (await records<{ running: number }>("gate/")).map((r) => ({
        key: r.key.split("/")[1],
        running: r.value.running,
      }));
    // `gate` takes two at once; each holds its event until the bucket holds `open/<key>`.
    await until(async () => (await started()).length >= 2, "two deliveries to start");
    expect((await started()).sort((a, b) => a.running - b.running)).toEqual([
      { key: keys[0], running: 1 },
      { key: keys[1], running: 2 },
    ]);
    await emu.bucket("results").put(`open/${keys[0]}`, "");
    await until(async () => (await started()).length >= 3, "the third delivery to start");
    expect((await started()).find((s) => s.key === keys[2])).toEqual({ key: keys[2], running: 2 });
    for (const key of keys.slice(1)) await emu.bucket("results").put(`open/${key}`, "");
    await emu.idle();
    expect((await started()).map((s) => s.key).sort()).toEqual([...keys].sort());
  });

  it("rule → function: with concurrency 1 the deliveries of one put start in entry order (§bus/ordering/2)", async () => {
    const keys = Array.from({ length: 6 }, () => uid("serial"));
    await put(
      "orders",
      keys.map((key) => entry("Serial", { key })),
    );
    await emu.idle();
    const bucket = emu.bucket("results");
    const { objects } = await bucket.list({ prefix: "serial/" });
    const order = await Promise.all(objects.map(async (o) => (await bucket.get(o.key))!.text()));
    expect(order).toEqual(keys);
  });

  it("rule → bus: the target bus gets the event as it is (same id) and matches it within the same put (§bus/delivery/3)", async () => {
    const mark = emu.logs.length;
    const { ids } = await put("front", [entry("Forwarded", { n: 1 })]);
    const id = ids[0]!;
    // `back/all` stored the event in `parked` before the put resolved.
    expect(stats("parked")).toEqual({ ...zero, depth: 1 });
    await emu.idle();
    expect(await got(id)).toEqual([
      expect.objectContaining({ id, "detail-type": "Forwarded", source: "test", detail: { n: 1 } }),
    ]);
    expect(loggedSince(mark, /^bus back: /).map((e) => e.message)).toEqual([
      `bus back: event ${id} (Forwarded from test) (forwarded from front) matched back/all`,
    ]);
  });

  it("rule → bus: an event passes through a bus once; a rule sending it back delivers nothing, and the log says so (§bus/delivery/4)", async () => {
    const mark = emu.logs.length;
    const { ids } = await put("ping", [entry("Round")]);
    const id = ids[0]!;
    await emu.idle();
    // Recorded by `ping/record` and `pong/record`, once each; `pong/to-ping` delivers nothing.
    expect(await got(id)).toHaveLength(2);
    expect(loggedSince(mark, new RegExp(`event ${id} came back through ping → pong → ping`))).toHaveLength(1);
    expect(loggedSince(mark, new RegExp(`^bus ping: event ${id} \\(`))).toHaveLength(1);
    // Not a refusal: nothing is dead-lettered.
    expect(stats("pong-dlq")).toEqual(zero);
    await emu.clock.advance("1h");
    expect(await got(id)).toHaveLength(2);
  });

  it("rule → bus: an event is forwarded through at most 5 buses; a 6th bus target refuses it into the dead-letter queue at once (§bus/delivery/4, §bus/retries/3)", async () => {
    const mark = emu.logs.length;
    const { ids } = await put("hop1", [entry("Hop")]);
    const id = ids[0]!;
    await emu.idle();
    // hop1 … hop5 each record it; hop6 never sees it.
    expect(await got(id)).toHaveLength(5);
    for (const n of [1, 2, 3, 4, 5])
      expect(loggedSince(mark, new RegExp(`^bus hop${n}: event ${id} \\(Hop from test\\)`))).toHaveLength(1);
    expect(loggedSince(mark, /^bus hop6: /)).toEqual([]);
    const dead = emu.queue("hops-dlq").deadLettered();
    expect(dead).toEqual([
      {
        id: expect.any(String),
        body: expect.objectContaining({ id, "detail-type": "Hop" }),
        queue: "hop5/next → bus hop6",
        attempts: 1,
        firstSeen: new Date(emu.clock.now()),
        lastError: expect.stringMatching(/passed through 5 buses \(hop1 → hop2 → hop3 → hop4 → hop5\)/),
      },
    ]);

    // Put on hop2, the event goes through hop2 … hop6: five buses, all allowed.
    const second = (await put("hop2", [entry("Hop")])).ids[0]!;
    await emu.idle();
    expect(await got(second)).toHaveLength(5);
    expect(stats("hops-dlq")).toEqual({ ...zero, depth: 1 });
  });
});

describe("bus: retries and dead letters", () => {
  it("event handler: a throw (before or after returning a promise), a timeout and a crash each fail the delivery; it is retried after exactly the back-off's initial 10 s (§bus/retries/1)", async () => {
    const modes: [string, RegExp][] = [
      ["throw-sync-once", /threw before returning a promise/],
      ["throw", /failed: .*order throw-\d+ failed/],
      ["hang", /failed: timed out after 2s/],
      ["exit", /failed: function "flaky" exited \(code 7\)/],
    ];
    for (const [fail, error] of modes) {
      const key = uid(fail);
      const mark = emu.logs.length;
      const t0 = emu.clock.now();
      const { ids } = await put("orders", [order(key, { fail })]);
      await emu.idle();
      const failures = loggedSince(mark, new RegExp(`^event ${ids[0]} \\(OrderPaid\\) by orders/paid failed`));
      expect(
        failures.map((e) => e.message),
        fail,
      ).toEqual([expect.stringMatching(error)]);
      // `throw-sync-once` threw before recording its try, and succeeds the second time by itself.
      expect(await tries(key), fail).toEqual(fail === "throw-sync-once" ? [] : [t0]);
      await fix(key);
      await emu.clock.advance(9_999);
      expect(await tries(key), fail).toHaveLength(fail === "throw-sync-once" ? 0 : 1);
      await emu.clock.advance(1);
      expect((await tries(key)).at(-1), fail).toBe(t0 + 10_000);
      await emu.clock.advance("1m");
      expect(await tries(key), fail).toHaveLength(fail === "throw-sync-once" ? 1 : 2);
    }
    expect(stats("orders-dlq")).toEqual(zero);
  }, 30_000);

  it("event handler: the second retry waits within [initial, 2 × initial]; after maxAttempts the event moves to the dead-letter queue with its rule and target, attempts and last error (§bus/retries/1-2)", async () => {
    const key = uid("doomed");
    const t0 = emu.clock.now();
    const { ids } = await put("orders", [order(key, { fail: "throw" })]);
    await emu.idle();
    await emu.clock.advance("10s");
    expect(await tries(key)).toEqual([t0, t0 + 10_000]);
    // b = min(1m, 10s × 2) = 20s; the wait is uniform in [max(10s, 10s), 20s].
    await emu.clock.advance(9_999);
    expect(await tries(key)).toHaveLength(2);
    await emu.clock.advance(10_001);
    const all = await tries(key);
    expect(all).toHaveLength(3);
    expect(all[2]! - all[1]!).toBeGreaterThanOrEqual(10_000);
    expect(all[2]! - all[1]!).toBeLessThanOrEqual(20_000);

    expect(stats("orders-dlq")).toEqual({ ...zero, depth: 1 });
    expect(emu.queue("orders-dlq").deadLettered()).toEqual([
      {
        id: expect.any(String),
        body: (await got(ids[0]!))[0],
        queue: "orders/paid → function flaky",
        attempts: 3,
        firstSeen: new Date(t0),
        lastError: expect.stringContaining(`order ${key} failed`),
      },
    ]);
    // Only the target that failed: `recorder`, the rule's other target, got it once and is done.
    expect(await got(ids[0]!)).toHaveLength(1);
    await emu.clock.advance("1h");
    expect(await tries(key)).toHaveLength(3);
    expect(stats("orders-dlq")).toEqual({ ...zero, depth: 1 });
  });

  it("rule → queue, bus: a target that refuses the event (queue schema, maxMessageSize, bus schema) is not retried; the event moves to the dead-letter queue at once with the refusal (§bus/retries/3)", async () => {
    const t0 = emu.clock.now();
    const { ids } = await put("orders", [
      entry("Strict", { id: 1 }),
      entry("Strict", { id: "fits-the-schema", pad: "x".repeat(1024) }),
      entry("Forward", { id: "a" }),
    ]);
    // Stored by the put itself.
    expect(stats("orders-dlq")).toEqual({ ...zero, depth: 3 });
    await emu.idle();
    const dead = emu.queue("orders-dlq").deadLettered();
    expect(
      dead.map(({ body, queue, attempts, firstSeen }) => ({
        id: (body as NimbusEvent).id,
        queue,
        attempts,
        firstSeen,
      })),
    ).toEqual([
      { id: ids[0], queue: "orders/strict → queue strict", attempts: 1, firstSeen: new Date(t0) },
      { id: ids[1], queue: "orders/strict → queue strict", attempts: 1, firstSeen: new Date(t0) },
      { id: ids[2], queue: "orders/forward → bus typed", attempts: 1, firstSeen: new Date(t0) },
    ]);
    expect(dead[0]!.lastError).toMatch(/^queue "strict": message 1 does not match the queue's schema \(detail\.id: /);
    expect(dead[1]!.lastError).toMatch(
      /^queue "strict": message 1 is [\d,]+ bytes; the queue's maxMessageSize is 1,024/,
    );
    expect(dead[2]!.lastError).toMatch(
      /^bus "typed": entry 1 has detailType "Forward", which the bus's schema does not name/,
    );
    expect(stats("strict")).toEqual(zero);
    await emu.clock.advance("1h");
    expect(stats("orders-dlq")).toEqual({ ...zero, depth: 3 });
    expect(stats("strict")).toEqual(zero);
    expect(await records("got/")).toEqual([]);
  });

  it("bus without deadLetter: a refused event is dropped, and the drop is logged as an error naming the event, the rule and the target (§bus/retries/4)", async () => {
    const mark = emu.logs.length;
    const { ids } = await put("plain", [entry("Strict", { id: 1 })]);
    await emu.idle();
    const errors = emu.logs.slice(mark).filter((e) => e.level === "error" && e.message.includes(ids[0]!));
    expect(errors.map((e) => e.message)).toEqual([expect.stringMatching(/plain\/strict.*queue strict.*dropped/)]);
    expect(stats("strict")).toEqual(zero);
  });

  it("bus without deadLetter: after the default 3 attempts (back-off 1s, then 1–2 s) the event is dropped, logged as an error naming the event, the rule and the target (§bus/retries/4, §bus/limits)", async () => {
    const key = uid("plain");
    const mark = emu.logs.length;
    const t0 = emu.clock.now();
    const { ids } = await put("plain", [order(key, { fail: "throw" })]);
    await emu.idle();
    await emu.clock.advance(999);
    expect(await tries(key)).toEqual([t0]);
    await emu.clock.advance(1);
    expect(await tries(key)).toEqual([t0, t0 + 1_000]);
    await emu.clock.advance(2_000);
    const all = await tries(key);
    expect(all).toHaveLength(3);
    expect(all[2]! - all[1]!).toBeGreaterThanOrEqual(1_000);
    expect(all[2]! - all[1]!).toBeLessThanOrEqual(2_000);
    await emu.clock.advance("1h");
    expect(await tries(key)).toHaveLength(3);

    const drops = emu.logs
      .slice(mark)
      .filter((e) => e.level === "error" && /dropped/.test(e.message))
      .map((e) => e.message);
    expect(drops).toEqual([expect.stringMatching(new RegExp(`(?=.*${ids[0]})(?=.*plain/flaky)(?=.*function flaky)`))]);
  });

  it("redrive: the bus's dead-letter queue delivers each event again to the one target it died at, attempts counted from 0 (§bus/retries/5)", async () => {
    const key = uid("redriven");
    const { ids } = await put("orders", [order(key, { fail: "throw" })]);
    await emu.idle();
    await emu.clock.advance("1m");
    expect(await tries(key)).toHaveLength(3);
    expect(stats("orders-dlq")).toEqual({ ...zero, depth: 1 });

    // Still failing: it gets three more deliveries before it dies again.
    const redrivenAt = emu.clock.now();
    expect(emu.queue("orders-dlq").redrive()).toEqual({ "orders/paid → function flaky": 1 });
    await emu.idle();
    expect((await tries(key)).slice(3)).toEqual([redrivenAt]);
    await emu.clock.advance("10s");
    expect(await tries(key)).toHaveLength(5);
    await emu.clock.advance("20s");
    expect(await tries(key)).toHaveLength(6);
    expect(emu.queue("orders-dlq").deadLettered()).toEqual([
      expect.objectContaining({ queue: "orders/paid → function flaky", attempts: 3 }),
    ]);

    await fix(key);
    expect(emu.queue("orders-dlq").redrive()).toEqual({ "orders/paid → function flaky": 1 });
    await emu.idle();
    expect(await tries(key)).toHaveLength(7);
    expect(stats("orders-dlq")).toEqual(zero);
    // `recorder`, the rule's other target, got the event once: redrive went to `flaky` only.
    expect(await got(ids[0]!)).toHaveLength(1);
  });

  it("redrive: an event a queue target refused, and refuses again, goes back to the dead-letter queue at once with 1 attempt (§bus/retries/3, §bus/retries/5)", async () => {
    const { ids } = await put("orders", [entry("Strict", { id: 1 })]);
    expect(stats("orders-dlq")).toEqual({ ...zero, depth: 1 });
    expect(emu.queue("orders-dlq").redrive()).toEqual({ "orders/strict → queue strict": 1 });
    await emu.idle();
    expect(emu.queue("orders-dlq").deadLettered()).toEqual([
      expect.objectContaining({
        body: expect.objectContaining({ id: ids[0] }),
        queue: "orders/strict → queue strict",
        attempts: 1,
        lastError: expect.stringMatching(/^queue "strict": message 1 does not match the queue's schema/),
      }),
    ]);
    expect(stats("strict")).toEqual(zero);
  });

  it("event handler: a delivery not done 24 hours after its event was put is dropped and logged (§bus/retries/6)", async () => {
    const key = uid("patient");
    const mark = emu.logs.length;
    const t0 = emu.clock.now();
    await put("patient", [order(key, { fail: "throw" })]);
    await emu.idle();
    // Tried every 5 hours: at 0, 5, 10, 15 and 20 h; the next would come at 25 h.
    await emu.clock.advance(24 * 3_600_000 - 1);
    const hours = (await tries(key)).map((at) => (at - t0) / 3_600_000);
    expect(hours).toEqual([0, 5, 10, 15, 20]);
    const dropped = () => loggedSince(mark, /patient\/flaky → function flaky.*dropped/);
    expect(dropped()).toEqual([]);
    await emu.clock.advance(1);
    expect(dropped()).toHaveLength(1);
    await emu.clock.advance("5h");
    expect(await tries(key)).toHaveLength(5);
  });
});

describe("bus: ordering", () => {
  it("put: the deliveries of one put are stored in entry order, then by rule name, then in target order (§bus/ordering/1)", async () => {
    // Every target of `sorted` refuses events over 1 KiB, so each delivery lands in `sorted-dlq` as it is stored.
    const big = { pad: "x".repeat(2_000) };
    const { ids } = await put("sorted", [
      { source: "sort", detailType: "First", detail: big },
      { source: "sort", detailType: "Second", detail: big },
    ]);
    const stored = emu
      .queue("sorted-dlq")
      .deadLettered()
      .map(({ body, queue }) => [(body as NimbusEvent).id, queue]);
    // `zulu` is declared before `alpha`, yet `alpha` goes first; `zulu` targets strict, then tiny.
    expect(stored).toEqual([
      [ids[0], "sorted/alpha → queue tiny"],
      [ids[0], "sorted/zulu → queue strict"],
      [ids[0], "sorted/zulu → queue tiny"],
      [ids[1], "sorted/alpha → queue tiny"],
      [ids[1], "sorted/zulu → queue strict"],
      [ids[1], "sorted/zulu → queue tiny"],
    ]);
  });

  it("rule → queue: a queue target receives the events of one put in entry order (§bus/ordering/1)", async () => {
    const { ids } = await put("orders", [
      entry("Tap", { n: 1 }),
      entry("Tap", { n: 2 }),
      entry("Tap", { n: 3 }),
      entry("Tap", { n: 4 }),
    ]);
    await emu.idle();
    const batches = (await records<{ body: NimbusEvent }[]>("queued/tap/")).map((r) => r.value.map((m) => m.body.id));
    expect(batches.flat()).toEqual(ids);
  });
});

describe("bus: tools", () => {
  it("nimbus queues: lists deliveries still on their way, by rule and target, beside the queues", async () => {
    await put("orders", [order(uid("listed"), { fail: "throw" })]);
    await emu.idle();
    const listed = await runCliAsync(["queues", "--url", emu.url]);
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(/\norders-dlq\s+0\s+0\s+0\s+0\n/);
    // flaky failed once and backs off; the recorder's delivery is done and not listed.
    expect(listed.stdout).toMatch(
      /\n\ndelivery \(rule or schedule → target\)\s+depth\s+in flight\s+delayed\s+dead-lettered\n/,
    );
    expect(listed.stdout).toMatch(/\norders\/paid → function flaky\s+0\s+0\s+1\s+0\n$/);
    expect(listed.stdout).not.toContain("function recorder");
  });
});

describe("bus: limits", () => {
  it("reload: a bus setting outside its limits fails the build naming the bus and the setting; 185 attempts are allowed (§bus/limits/1)", async () => {
    const file = join(root, "nimbus.app.ts");
    const original = await readFile(file, "utf8");
    const setting = 'delivery: { maxAttempts: 3, backoff: { initial: "10s", max: "1m" } }';
    expect(original).toContain(setting);
    const cases: [string, RegExp][] = [
      [
        'delivery: { maxAttempts: 186, backoff: { initial: "10s", max: "1m" } }',
        /bus "orders", delivery\.maxAttempts: .*185/,
      ],
      ['delivery: { maxAttempts: 0, backoff: { initial: "10s", max: "1m" } }', /bus "orders", delivery\.maxAttempts: /],
      [
        'delivery: { maxAttempts: 3, backoff: { initial: "13h", max: "13h" } }',
        /bus "orders", delivery\.backoff\.initial: /,
      ],
      ['delivery: { maxAttempts: 3, backoff: { initial: "2m", max: "1m" } }', /bus "orders", delivery\.backoff: /],
    ];
    try {
      for (const [replacement, message] of cases) {
        await writeFile(file, original.replace(setting, replacement));
        await expect(emu.reload(), replacement).rejects.toThrow(message);
      }
      await writeFile(
        file,
        original.replace(setting, 'delivery: { maxAttempts: 185, backoff: { initial: "10s", max: "1m" } }'),
      );
      await emu.reload();
    } finally {
      await writeFile(file, original);
      await emu.reload();
    }
  });
});

describe("bus: durability", () => {
  interface Seeded {
    retried: string;
    /** When `flaky` first failed on `retried`: its next try is due 5 h later. */
    failedAt: number;
    deadId: string;
  }

  /**
   * A delivery backing off (its function failed once; `patient` waits 5 h, longer than any
   * restart, so a new emulator's clock, which starts at the real time, is still before it),
   * a dead-lettered event and one waiting in a queue.
   */
  async function seed(emulator: Emulator): Promise<Seeded> {
    const retried = uid("retried");
    await put("patient", [order(retried, { fail: "throw" })], emulator);
    const { ids } = await put("orders", [entry("Strict", { id: 1 }), entry("Park")], emulator);
    await emulator.idle();
    const [failedAt] = await tries(retried, emulator);
    return { retried, failedAt: failedAt!, deadId: ids[0]! };
  }

  /** What `seed` left is still there; fixed, the backing-off delivery is made when its back-off ends. */
  async function expectSeeded(emulator: Emulator, seeded: Seeded): Promise<void> {
    expect(stats("parked", emulator)).toEqual({ ...zero, depth: 1 });
    expect(emulator.queue("orders-dlq").deadLettered()).toEqual([
      expect.objectContaining({
        body: expect.objectContaining({ id: seeded.deadId }),
        queue: "orders/strict → queue strict",
        attempts: 1,
      }),
    ]);
    await fix(seeded.retried, emulator);
    await emulator.clock.advance(seeded.failedAt + 5 * 3_600_000 - 1 - emulator.clock.now());
    expect(await tries(seeded.retried, emulator)).toHaveLength(1);
    await emulator.clock.advance(1);
    expect(await tries(seeded.retried, emulator)).toEqual([seeded.failedAt, seeded.failedAt + 5 * 3_600_000]);
    await emulator.clock.advance("1d");
    expect(await tries(seeded.retried, emulator)).toHaveLength(2);
    expect(stats("orders-dlq", emulator)).toEqual({ ...zero, depth: 1 });
  }

  it("reload: deliveries waiting, in flight, backing off and dead-lettered stay (§bus/durability/1)", async () => {
    const seeded = await seed(emu);
    // `gate` holds this one until the bucket holds `open/<key>`: in flight across the reload.
    const held = uid("held");
    await put("orders", [entry("Gate", { key: held })]);
    const runs = async () => (await emu.bucket("results").list({ prefix: `gate/${held}/` })).objects.length;
    await until(async () => (await runs()) === 1, "gate to start");
    await emu.reload();
    await emu.bucket("results").put(`open/${held}`, "");
    await emu.idle();
    await expectSeeded(emu, seeded);
    // It ended with its one run: not delivered again once its lease would have expired.
    expect(await runs()).toBe(1);
  });

  it("restart: deliveries waiting, backing off and dead-lettered stay in the state folder; a put's deliveries are made after a restart (§bus/durability/1, §bus/put/5)", async () => {
    const state = await mkdtemp(join(tmpdir(), "nimbus-bus-"));
    try {
      let seeded: Seeded;
      let lastPut: string;
      {
        await using first = await createEmulator({ root, state, watch: false, clock: "manual" });
        seeded = await seed(first);
        // Put and closed at once: whether or not its delivery ran before the close, it is made.
        lastPut = (await put("orders", [order(uid("late"))], first)).ids[0]!;
      }
      await using second = await createEmulator({ root, state, watch: false, clock: "manual" });
      await expectSeeded(second, seeded);
      expect((await got(lastPut, second)).length).toBeGreaterThanOrEqual(1);
    } finally {
      await rm(state, { recursive: true, force: true });
    }
  }, 30_000);

  it("reload: changed rules apply to events put afterwards; a stored delivery still goes to its rule and target while that pair exists (§bus/durability/3)", async () => {
    const rule =
      'orders.rule("paid", { pattern: { source: ["shop"], "detail-type": ["OrderPaid"] }, targets: [flaky, recorder] });';
    const [stored, after, settled] = [uid("stored"), uid("after"), uid("settled")];
    await put("orders", [order(stored, { fail: "throw" })]);
    await emu.idle();

    let restore = await editApp(emu, root, (source) =>
      source.replace(rule, rule.replace('["OrderPaid"]', '["OrderSettled"]')),
    );
    try {
      await put("orders", [order(after), { source: "shop", detailType: "OrderSettled", detail: { key: settled } }]);
      await emu.idle();
      expect(await tries(after)).toEqual([]);
      expect(await tries(settled)).toHaveLength(1);
      // Stored for `orders/paid → function flaky` before the reload: that pair still exists.
      await fix(stored);
      await emu.clock.advance("10s");
      expect(await tries(stored)).toHaveLength(2);
    } finally {
      await restore();
    }

    const orphan = uid("orphan");
    await put("orders", [order(orphan, { fail: "throw" })]);
    await emu.idle();
    restore = await editApp(emu, root, (source) =>
      source.replace(rule, rule.replace("targets: [flaky, recorder]", "targets: [recorder]")),
    );
    try {
      await fix(orphan);
      await emu.clock.advance("1m");
      expect(await tries(orphan)).toHaveLength(1);
    } finally {
      await restore();
    }
  });
});

describe("bus durability: kill -9", () => {
  const cleanups: (() => Promise<unknown> | unknown)[] = [];
  afterAll(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });

  it("kill -9: deliveries waiting, backing off and dead-lettered survive; one running fails once the function's timeout plus 30 s has passed since it started, and is made again after the back-off (§bus/durability/1-2, §bus/put/5)", async () => {
    const copy = await copyFixture("bus");
    cleanups.push(copy.remove);
    const dev = await startDev(copy.dir);
    cleanups.push(() => dev.child.kill("SIGKILL"));
    let output = "";
    dev.child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });
    dev.child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
      output += chunk;
    });

    const [held, retried] = [uid("held"), uid("retried")];
    const putAt = Date.now();
    const response = await fetch(`${dev.ready.url}/_nimbus/buses/orders/events`, {
      method: "POST",
      body: JSON.stringify({
        entries: [
          entry("Gate", { key: held }),
          order(retried, { fail: "throw" }),
          entry("Strict", { id: 1 }),
          entry("Park"),
        ],
      }),
    });
    expect(response.status).toBe(201);
    const { ids } = (await response.json()) as { ids: string[] };
    // `gate` holds its event (nothing opens it); `flaky` has failed once and backs off.
    await until(async () => output.includes(`gate ${held} started`), "gate to start", 20_000);
    await until(
      async () => output.includes(`event ${ids[1]} (OrderPaid) by orders/paid failed`),
      "flaky to fail",
      20_000,
    );
    const seenAt = Date.now();
    dev.child.kill("SIGKILL");
    await dev.exited;

    const restarted = await restartOnDevState(copy.dir);
    cleanups.push(() => restarted.close());
    expect(stats("parked", restarted)).toEqual({ ...zero, depth: 1 });
    expect(restarted.queue("orders-dlq").deadLettered()).toEqual([
      expect.objectContaining({
        body: expect.objectContaining({ id: ids[2] }),
        queue: "orders/strict → queue strict",
        attempts: 1,
      }),
    ]);
    await restarted.bucket("results").put(`open/${held}`, "");
    await fix(retried, restarted);
    const runs = async () => (await restarted.bucket("results").list({ prefix: `gate/${held}/` })).objects.length;
    expect(await runs()).toBe(1);

    // The lease of the held run ends 10 s (gate's timeout) + 30 s after it started, which was after the put.
    await restarted.clock.advance(putAt + 40_000 - 1 - restarted.clock.now());
    await restarted.idle();
    expect(await runs()).toBe(1);
    expect((await tries(retried, restarted)).length).toBeGreaterThanOrEqual(2);
    await restarted.clock.advance(Math.max(1, seenAt + 40_000 - restarted.clock.now()));
    await restarted.idle();
    // The lost run counted as a failed attempt: the next waits the bus's first back-off, 10 s.
    expect(await runs()).toBe(1);
    expect(restarted.logs.some((line) => line.message.includes("was not settled within its visibility timeout"))).toBe(
      true,
    );
    await restarted.clock.advance("10s");
    await restarted.idle();
    expect(await runs()).toBe(2);
    await restarted.clock.advance("1h");
    expect(await runs()).toBe(2);
    expect(stats("orders-dlq", restarted)).toEqual({ ...zero, depth: 1 });
  }, 60_000);
});
