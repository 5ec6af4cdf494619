// The schedule contract of docs/semantics.md ("Schedules"), driven through the emulator
// with a manual clock (and, for §schedules/clock/1, the real one). Titles name the statement they check (§schedules/<section>/<n>).
// Fired times are compared with `nextRuns` from @nimbus/core, and with what the fixture's
// expressions mean on their own (multiples of the interval, wall-clock hours in the zone).
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { nextRuns, type ScheduleExpression } from "@nimbus/core";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runCliAsync } from "./support/cli.ts";
import { editApp, emulatorSuite, noMessages } from "./support/suite.ts";

let emu: Emulator;
let root: string;
emulatorSuite("schedules", {
  started: (started, dir) => {
    emu = started;
    root = dir;
  },
  beforeReset: (emu) => emu.invoke("slow", "/open", { method: "POST" }),
});

/**
 * A run of `recorder` (test/fixtures/schedules/src/recorder.ts): its controller, and the
 * emulator's clock as it started and as it wrote its record (the record's `uploaded`).
 */
interface Run {
  controller: unknown;
  startedAt: number;
  endedAt: number;
}

/** What `slow` writes for each run (src/slow.ts). */
interface SlowRun {
  controller: unknown;
  startedAt: number;
  others: number[];
  held: boolean;
}

/** A message `collector` got (src/collector.ts): its body, and the emulator's clock as it came. */
interface Collected {
  body: unknown;
  at: number;
}

/** The fixture's expressions, written out again: the oracle `nextRuns` is asked with. */
const expressions = {
  quarterly: { every: "15m" },
  fively: { rate: "rate(5 minutes)" },
  berlin: { cron: "0 */3 * * *", timezone: "Europe/Berlin" },
  "new-york": { cron: "30 */3 * * *", timezone: "America/New_York" },
  report: { cron: "45 * * * *" },
  "bus-payload": { cron: "0 12 * * *" },
} satisfies Record<string, ScheduleExpression>;

/** The instants `expr` fires at in (from, to], as `nextRuns` gives them. */
function expected(expr: ScheduleExpression, from: number, to: number): number[] {
  return nextRuns(expr, { from: new Date(from), count: 1_000 })
    .map((date) => date.getTime())
    .filter((at) => at <= to);
}

const iso = (ms: number) => new Date(ms).toISOString();
/** A time as an event's `time`: ISO 8601 in UTC, to the second. */
const isoSecond = (ms: number) => iso(Math.floor(ms / 1_000) * 1_000).replace(".000Z", "Z");
const literal = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** Advances the manual clock of `emulator` to exactly `at`. */
async function advanceTo(at: number, emulator = emu): Promise<void> {
  expect(at).toBeGreaterThanOrEqual(emulator.clock.now());
  await emulator.clock.advance(at - emulator.clock.now());
}

/** When schedule `name` fires next on `emulator`, in ms. */
const nextOf = (name: string, emulator = emu) => emulator.schedule(name).next()!.getTime();

/** Every object under `prefix` in the results bucket, parsed, in key order, with its upload time (the emulator's clock). */
async function records<T>(prefix: string, emulator = emu): Promise<{ key: string; value: T; uploaded: number }[]> {
  const results = emulator.bucket("results");
  const { objects } = await results.list({ prefix });
  return Promise.all(
    objects.map(async (o) => ({
      key: o.key,
      value: JSON.parse(await (await results.get(o.key))!.text()) as T,
      uploaded: o.uploaded.getTime(),
    })),
  );
}

/** The runs `recorder` made for schedule `name`, in order of their scheduledTime; a tick run twice shows twice. */
async function runs(name: string, emulator = emu): Promise<Run[]> {
  return (await records<Omit<Run, "endedAt">>(`ticks/${name}/`, emulator)).map((r) => ({
    ...r.value,
    endedAt: r.uploaded,
  }));
}

/** The scheduledTimes `recorder` got from schedule `name`, one per run. */
async function fired(name: string, emulator = emu): Promise<number[]> {
  return (await runs(name, emulator)).map((run) => (run.controller as { scheduledTime: number }).scheduledTime);
}

/** The messages `collector` got from `queue`, each with its attempt, in the order they came (the clock's, then by body). */
async function collected(queue: string): Promise<(Collected & { attempt: number })[]> {
  return (await records<unknown>(`messages/${queue}/`))
    .map(({ key, value, uploaded }) => ({
      body: value,
      at: uploaded,
      attempt: Number(key.split("/").pop()),
    }))
    .sort((a, b) => a.at - b.at || JSON.stringify(a.body).localeCompare(JSON.stringify(b.body)));
}

/** The attempts `flaky` made at the tick due at `at`. */
async function attempts(at: number, emulator = emu): Promise<number[]> {
  const { objects } = await emulator.bucket("results").list({ prefix: `flaky/${at}/` });
  return objects.map((o) => Number(o.key.split("/").pop())).sort((a, b) => a - b);
}

/** The runs `slow` started, in order of their scheduledTime. */
async function slowRuns(emulator = emu): Promise<SlowRun[]> {
  return (await records<SlowRun>("slow/", emulator)).map((r) => r.value);
}

/** Resolves once `check` holds, polling; for runs a test holds open, which idle() would wait for. */
async function until(check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The log lines written since `mark` (an earlier `logs.length`) that match. */
const loggedSince = (mark: number, pattern: RegExp, emulator = emu) =>
  emulator.logs.slice(mark).filter((entry) => pattern.test(entry.message));

/** The UTC column of `nimbus schedule next`, as ms. */
async function scheduleNext(name: string, from: number, count: number): Promise<number[]> {
  const result = await runCliAsync(["schedule", "next", root, name, "--from", iso(from), "--count", String(count)]);
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  return result.stdout
    .trimEnd()
    .split("\n")
    .slice(1)
    .map((line) => Date.parse(line.trim().split(/\s+/).pop()!));
}

/** The wall-clock hour and minute of `at` in `timeZone`. */
function wallClock(at: number, timeZone: string): { hour: number; minute: number } {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "numeric", minute: "numeric", hourCycle: "h23" })
    .formatToParts(new Date(at))
    .filter((part) => part.type === "hour" || part.type === "minute");
  const value = (type: string) => Number(parts.find((part) => part.type === type)!.value);
  return { hour: value("hour"), minute: value("minute") };
}

const zero = noMessages;

describe("schedules: firing", () => {
  it("tick: every and rate fire at exactly the times nextRuns gives, whole multiples of the interval since the epoch (§schedules/firing/1)", async () => {
    const start = emu.clock.now();
    const first = nextOf("quarterly");
    expect(first).toBe(expected(expressions.quarterly, start, Number.POSITIVE_INFINITY)[0]);

    // Not a millisecond early, and on the dot.
    await advanceTo(first - 1);
    expect(await fired("quarterly")).toEqual([]);
    await emu.clock.advance(1);
    expect(await fired("quarterly")).toEqual([first]);

    await emu.clock.advance("1h");
    const end = emu.clock.now();
    const quarterly = await fired("quarterly");
    expect(quarterly).toEqual(expected(expressions.quarterly, start, end));
    expect(quarterly).toHaveLength(5);
    for (const at of quarterly) expect(at % 900_000).toBe(0);

    const fively = (await collected("ticks"))
      .map((m) => m.body as { schedule?: string; scheduledTime?: number })
      .filter((body) => body.schedule === "fively")
      .map((body) => body.scheduledTime!);
    expect(fively).toEqual(expected(expressions.fively, start, end));
    expect(fively.length).toBeGreaterThanOrEqual(12);
    for (const at of fively) expect(at % 300_000).toBe(0);

    // `nimbus schedule next` lists the same instants.
    expect(await scheduleNext("quarterly", start, quarterly.length)).toEqual(quarterly);
  });

  it("tick: a cron fires at its wall-clock times in its time zone (Europe/Berlin, America/New_York) (§schedules/firing/1)", async () => {
    const start = emu.clock.now();
    await emu.clock.advance("3h");
    const end = emu.clock.now();
    for (const [name, minute] of [
      ["berlin", 0],
      ["new-york", 30],
    ] as const) {
      const { timezone } = expressions[name];
      const times = await fired(name);
      expect(times, name).toEqual(expected(expressions[name], start, end));
      expect(times, name).toHaveLength(1);
      for (const at of times) {
        expect(wallClock(at, timezone), name).toEqual({ hour: expect.any(Number), minute });
        expect(wallClock(at, timezone).hour % 3, name).toBe(0);
        // Neither zone's offset is a multiple of 3 hours: read in UTC, the hours would differ.
        expect(new Date(at).getUTCHours() % 3, name).not.toBe(0);
      }
      expect(await scheduleNext(name, start, 1), name).toEqual(times);
    }
  });

  it("scheduled: a function target's handler gets { schedule, scheduledTime }, the tick's due time in ms (§schedules/firing/2)", async () => {
    const due = nextOf("quarterly");
    await advanceTo(due);
    const got = await runs("quarterly");
    expect(got.map((run) => run.controller)).toEqual([{ schedule: "quarterly", scheduledTime: due }]);
    expect(got[0]!.startedAt).toBe(due);
  });

  it("queue target: each tick sends one message: { schedule, scheduledTime } without a payload, the payload with one (§schedules/firing/3)", async () => {
    const start = emu.clock.now();
    const due = nextOf("report");
    await advanceTo(due);
    const got = (await collected("ticks")).map(({ body, at, attempt }) => ({ body, at, attempt }));
    const want = [
      ...expected(expressions.fively, start, due).map((at) => ({
        body: { schedule: "fively", scheduledTime: at },
        at,
        attempt: 1,
      })),
      { body: { report: "hourly" }, at: due, attempt: 1 },
    ];
    // Ticks due at the same instant (fively and report at :45) may come in either order.
    const order = (list: { body: unknown; at: number }[]) =>
      [...list].sort((a, b) => a.at - b.at || JSON.stringify(a.body).localeCompare(JSON.stringify(b.body)));
    expect(got).toEqual(order(want));
  });

  it("bus target: each tick puts one event from nimbus.schedule with the schedule as resource and the due time; rules match it as any put (§schedules/firing/4)", async () => {
    const start = emu.clock.now();
    const due = nextOf("bus-tick");
    await advanceTo(due);
    const byResource = async (resource: string) =>
      (await collected("events"))
        .map((m) => m.body as { resources: string[] })
        .filter((event) => event.resources[0] === resource);
    expect(await byResource("bus-tick")).toEqual([
      {
        version: "0",
        id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
        "detail-type": "Scheduled Event",
        source: "nimbus.schedule",
        account: "000000000000",
        time: isoSecond(due),
        region: "local",
        resources: ["bus-tick"],
        detail: { schedule: "bus-tick", scheduledTime: due },
      },
    ]);
    // `bus-payload` fires at 12:00 UTC: in this hour, perhaps.
    const daily = expected(expressions["bus-payload"], start, due).length;
    expect(emu.queue("picked").stats()).toEqual({ ...zero, depth: daily });

    const { scheduledTime } = await emu.schedule("bus-payload").trigger();
    await emu.idle();
    const withPayload = await byResource("bus-payload");
    expect(withPayload).toHaveLength(daily + 1);
    expect(withPayload.at(-1)).toEqual({
      version: "0",
      id: expect.any(String),
      "detail-type": "Scheduled Event",
      source: "nimbus.schedule",
      account: "000000000000",
      time: isoSecond(scheduledTime),
      region: "local",
      resources: ["bus-payload"],
      detail: { report: "daily" },
    });
    // Matched by every rule as a put is: `clock/by-resource` too, never `clock/never`.
    expect(emu.queue("picked").stats()).toEqual({ ...zero, depth: daily + 1 });
    expect(emu.queue("unmatched").stats()).toEqual(zero);
  });

  it("scheduled: a handler that throws is retried after 1 s, then after 1 to 2 s, and dropped and logged after 3 attempts (§schedules/firing/5)", async () => {
    const mark = emu.logs.length;
    const { scheduledTime } = await emu.schedule("throwing").trigger();
    const failures = () =>
      loggedSince(
        mark,
        new RegExp(`^schedule throwing: tick due at ${literal(iso(scheduledTime))} failed: .*throwing threw`),
      ).filter((entry) => entry.fn === "flaky" && entry.level === "error").length;
    await emu.idle();
    expect(failures()).toBe(1);
    // b = 1s after the first attempt: exactly 1 s.
    await emu.clock.advance(999);
    expect(failures()).toBe(1);
    await emu.clock.advance(1);
    expect(failures()).toBe(2);
    // b = 2s after the second: within [1 s, 2 s].
    await emu.clock.advance(999);
    expect(failures()).toBe(2);
    await emu.clock.advance(1_001);
    expect(failures()).toBe(3);
    expect(loggedSince(mark, /\bthrowing\b.*\bdropped\b/)).toHaveLength(1);
    await emu.clock.advance("1h");
    expect(failures()).toBe(3);
  });

  it("scheduled: a handler that rejects is retried with the same scheduledTime; a retry that succeeds ends it (§schedules/firing/5)", async () => {
    const { scheduledTime } = await emu.schedule("flaky").trigger();
    await emu.idle();
    expect(await attempts(scheduledTime)).toEqual([1]);
    await emu.bucket("results").put(`fixed/${scheduledTime}`, "");
    await emu.clock.advance("1s");
    expect(await attempts(scheduledTime)).toEqual([1, 2]);
    await emu.clock.advance("1h");
    expect(await attempts(scheduledTime)).toEqual([1, 2]);
  });

  it("scheduled: a run past the function's timeout is retried (§schedules/firing/5)", async () => {
    await emu.bucket("results").put("hang-first", "");
    const mark = emu.logs.length;
    const { scheduledTime } = await emu.schedule("flaky").trigger();
    // flaky's timeout (1 s) is real time: idle() waits for the run to be cut off.
    await emu.idle();
    expect(await attempts(scheduledTime)).toEqual([1]);
    expect(
      loggedSince(
        mark,
        new RegExp(`^schedule flaky: tick due at ${literal(iso(scheduledTime))} failed: timed out after 1s`),
      ).filter((entry) => entry.fn === "flaky" && entry.level === "error"),
    ).toHaveLength(1);
    await emu.bucket("results").put(`fixed/${scheduledTime}`, "");
    await emu.clock.advance("1s");
    expect(await attempts(scheduledTime)).toEqual([1, 2]);
  }, 20_000);

  it("queue and bus targets: a tick the target refuses (queue schema, queue size, bus schema) is dropped and logged; later ticks fire (§schedules/firing/6)", async () => {
    const refusals = [
      ["refused", "queue strict"],
      ["oversized", "queue small"],
      ["refused-bus", "bus orders"],
    ] as const;
    for (const round of [1, 2]) {
      const mark = emu.logs.length;
      const due = nextOf("refused");
      await advanceTo(due);
      for (const [schedule, target] of refusals) {
        const lines = loggedSince(
          mark,
          new RegExp(`\\b${schedule}\\b.*\\b${target}\\b.*${literal(iso(due))}.*\\bdropped\\b`),
        );
        expect(lines, `${schedule}, round ${round}`).toHaveLength(1);
      }
      expect(emu.queue("strict").stats()).toEqual(zero);
      expect(emu.queue("small").stats()).toEqual(zero);
    }
  });
});

describe("schedules: overlap", () => {
  it("tick: a tick due while the previous run still goes is handed over when it ends, with its own scheduledTime (§schedules/overlap/1)", async () => {
    const results = emu.bucket("results");
    const open = (at: number) => emu.invoke("slow", `/open?at=${at}`, { method: "POST" });
    const started = async (count: number) => (await slowRuns()).length === count;
    await results.put("hold", "");

    // Run A, by hand, held open.
    const { scheduledTime: a } = await emu.schedule("slow").trigger();
    await until(() => started(1), "run A to start");

    // B falls due while A goes: stored, not started, also 5 minutes later. (A is held at
    // most 15 minutes of the clock: less than its delivery's visibility timeout, slow's
    // timeout plus 30 s, after which A would count as failed.)
    const b = nextOf("slow");
    await advanceTo(b);
    await emu.clock.advance("5m");
    expect(await slowRuns()).toHaveLength(1);

    await open(a);
    await until(() => started(2), "run B to start once A ends");

    // C falls due while B goes.
    const c = nextOf("slow");
    expect(c).toBe(b + 600_000);
    await advanceTo(c);
    expect(await slowRuns()).toHaveLength(2);

    await results.delete("hold");
    await open(b);
    await until(() => started(3), "run C to start once B ends");
    await emu.idle();

    expect(await slowRuns()).toEqual([
      { controller: { schedule: "slow", scheduledTime: a }, startedAt: a, others: [], held: true },
      { controller: { schedule: "slow", scheduledTime: b }, startedAt: b + 300_000, others: [], held: true },
      { controller: { schedule: "slow", scheduledTime: c }, startedAt: c, others: [], held: false },
    ]);
  });
});

describe("schedules: restarts and missed ticks", () => {
  it("restart: a tick fired before the stop is not fired again; a delivery stored before it is made after it (§schedules/restarts/1)", async () => {
    const state = await mkdtemp(join(tmpdir(), "nimbus-schedules-"));
    try {
      let start: number;
      let last: number;
      let failing: number;
      {
        await using first = await createEmulator({ root, state, watch: false, clock: "manual" });
        start = first.clock.now();
        await first.clock.advance("30m");
        last = nextOf("quarterly", first);
        await advanceTo(last, first);
        expect(await fired("quarterly", first)).toEqual(expected(expressions.quarterly, start, last));
        // A run that fails: its retry waits in the schedule's delivery queue over the stop.
        failing = (await first.schedule("flaky").trigger()).scheduledTime;
        await first.idle();
        expect(await attempts(failing, first)).toEqual([1]);
        await first.bucket("results").put(`fixed/${failing}`, "");
      }
      // The new manual clock starts at the real now, before the first one's last tick.
      await using second = await createEmulator({ root, state, watch: false, clock: "manual" });
      expect(second.clock.now()).toBeLessThan(last);
      expect(nextOf("quarterly", second)).toBe(last + 900_000);
      await advanceTo(last + 30 * 60_000, second);
      // Each tick once, across both runs of the emulator.
      expect(await fired("quarterly", second)).toEqual(expected(expressions.quarterly, start, last + 30 * 60_000));
      expect(await attempts(failing, second)).toEqual([1, 2]);
    } finally {
      await rm(state, { recursive: true, force: true });
    }
  }, 30_000);

  it("restart: ticks due while stopped are skipped and the log says how many and when the last was due; the first tick after the start fires (§schedules/restarts/2)", async () => {
    const state = await mkdtemp(join(tmpdir(), "nimbus-schedules-"));
    try {
      // A manual clock starts at the real now, so a stop of hours cannot be waited for:
      // the store's record of the last tick is set back instead, as if the emulator had
      // fired it and stopped 2 hours ago.
      await (await createEmulator({ root, state, watch: false, clock: "manual" })).close();
      const lastFired = Math.floor(Date.now() / 900_000) * 900_000 - 2 * 3_600_000;
      const db = new DatabaseSync(join(state, "queues", "queues.sqlite"));
      db.prepare(
        "INSERT INTO ticks (schedule, at) VALUES (?, ?) ON CONFLICT (schedule) DO UPDATE SET at = excluded.at",
      ).run("quarterly", lastFired);
      db.close();

      await using emulator = await createEmulator({ root, state, watch: false, clock: "manual" });
      const start = emulator.clock.now();
      const missed = expected(expressions.quarterly, lastFired, start - 1);
      expect(missed.length).toBeGreaterThanOrEqual(8);
      const skipped = loggedSince(0, /skipped/, emulator);
      expect(skipped.map((entry) => entry.message)).toEqual([
        expect.stringMatching(
          new RegExp(`\\bquarterly\\b.*\\b${missed.length} ticks\\b.*${literal(iso(missed.at(-1)!))}`),
        ),
      ]);

      const due = nextOf("quarterly", emulator);
      expect(due).toBe(expected(expressions.quarterly, start, Number.POSITIVE_INFINITY)[0]);
      await advanceTo(due, emulator);
      expect(await fired("quarterly", emulator)).toEqual([due]);
    } finally {
      await rm(state, { recursive: true, force: true });
    }
  }, 30_000);

  it("reload: a changed schedule is armed anew from now; an unchanged one keeps its next tick (§schedules/restarts/3)", async () => {
    const quarterly = nextOf("quarterly");
    const berlin = nextOf("berlin");
    const tokyo = { cron: "0 */3 * * *", timezone: "Asia/Tokyo" };
    const restore = await editApp(emu, root, (source) =>
      source.replace('cron: "0 */3 * * *", timezone: "Europe/Berlin"', 'cron: "0 */3 * * *", timezone: "Asia/Tokyo"'),
    );
    try {
      const start = emu.clock.now();
      expect(nextOf("quarterly")).toBe(quarterly);
      // Tokyo is 9 hours ahead of UTC, a multiple of 3: its times are not Berlin's.
      expect(nextOf("berlin")).toBe(expected(tokyo, start, Number.POSITIVE_INFINITY)[0]);
      expect(nextOf("berlin")).not.toBe(berlin);

      await emu.clock.advance("3h");
      const end = emu.clock.now();
      expect(await fired("berlin")).toEqual(expected(tokyo, start, end));
      expect(await fired("quarterly")).toEqual(expected(expressions.quarterly, start, end));
    } finally {
      await restore();
    }
  });
});

describe("schedules: triggering", () => {
  it("trigger: fires the schedule once now, with scheduledTime now; its next tick stays (§schedules/triggering/1)", async () => {
    const now = emu.clock.now();
    const next = nextOf("quarterly");
    expect(await emu.schedule("quarterly").trigger()).toEqual({ scheduledTime: now });
    await emu.idle();
    expect(await fired("quarterly")).toEqual([now]);
    expect(nextOf("quarterly")).toBe(next);
    await advanceTo(next);
    expect(await fired("quarterly")).toEqual([now, next]);
  });

  it("nimbus trigger: fires the schedule once now through a running emulator; its next tick stays (§schedules/triggering/1)", async () => {
    const now = emu.clock.now();
    const next = nextOf("quarterly");
    const result = await runCliAsync(["trigger", "--url", emu.url, "quarterly"]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toBe(`triggered quarterly (scheduledTime ${iso(now)})\n`);
    await emu.idle();
    expect(await runs("quarterly")).toEqual([
      { controller: { schedule: "quarterly", scheduledTime: now }, startedAt: now, endedAt: now },
    ]);
    expect(nextOf("quarterly")).toBe(next);
  });
});

describe("schedules: the real clock", () => {
  let real: Emulator;

  // The suite's app with `quarterly` and `slow` every second, on the real clock. The file
  // is put back at once: the suite's emulator does not watch it.
  beforeAll(async () => {
    const file = join(root, "nimbus.app.ts");
    const original = await readFile(file, "utf8");
    const edited = original
      .replace('every: "15m", target: recorder', 'every: "1s", target: recorder')
      .replace('every: "10m", target: slow', 'every: "1s", target: slow');
    expect(edited).not.toBe(original);
    await writeFile(file, edited);
    try {
      real = await createEmulator({ root, watch: false });
    } finally {
      await writeFile(file, original);
    }
  });

  afterAll(async () => {
    await real?.bucket("results").delete("hold");
    await real?.invoke("slow", "/open", { method: "POST" });
    await real?.close();
  });

  /** The emulator's line for the tick of `schedule` due at `at`, once stored. */
  const tickLine = (schedule: string, at: number) =>
    real.logs.find(
      (entry) => !entry.fn && new RegExp(`^schedule ${schedule}: tick due at ${literal(iso(at))}`).test(entry.message),
    );

  it("real clock: a tick fires when it falls due; one fired more than 1 s late says so in the log (§schedules/clock/1)", async () => {
    await until(async () => (await runs("quarterly", real)).length > 0, "the first tick");
    const [first] = await runs("quarterly", real);
    const at = (first!.controller as { scheduledTime: number }).scheduledTime;
    expect(at % 1_000).toBe(0);
    expect(first!.startedAt).toBeGreaterThanOrEqual(at);
    const line = tickLine("quarterly", at)!;
    expect(line).toBeDefined();
    expect(line.time.getTime()).toBeGreaterThanOrEqual(at);
    if (line.time.getTime() - at <= 1_000) expect(line.message).not.toMatch(/late/);

    // Hold this thread (the emulator's) past the next tick, as a busy emulator would be.
    const next = nextOf("quarterly", real);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, next + 1_500 - Date.now());
    await until(async () => tickLine("quarterly", next) !== undefined, "the late tick");
    const late = tickLine("quarterly", next)!.message.match(/(\d+) ?ms late/);
    expect(late, tickLine("quarterly", next)!.message).not.toBeNull();
    expect(Number(late![1])).toBeGreaterThanOrEqual(1_500);
  });

  it("real clock: a tick handed over more than 1 s late, after an overlapping run, says so in the log (§schedules/clock/1, §schedules/overlap/1)", async () => {
    const results = real.bucket("results");
    await results.put("hold", "");
    let held: SlowRun | undefined;
    await until(async () => {
      held = (await slowRuns(real)).find((run) => run.held);
      return held !== undefined;
    }, "a held run");
    const a = (held!.controller as { scheduledTime: number }).scheduledTime;
    const b = a + 1_000;
    // B falls due while A is held; hand A over only once B is 1.5 s overdue.
    await until(async () => Date.now() > b + 1_500, "B to be 1.5 s overdue");
    await results.delete("hold");
    await real.invoke("slow", `/open?at=${a}`, { method: "POST" });
    let runB: SlowRun | undefined;
    await until(async () => {
      runB = (await slowRuns(real)).find((run) => (run.controller as { scheduledTime: number }).scheduledTime === b);
      return runB !== undefined;
    }, "run B");
    expect(runB!.startedAt - b).toBeGreaterThanOrEqual(1_500);
    expect(runB!.others).toEqual([]);
    const lines = real.logs.filter(
      (entry) => !entry.fn && entry.message.includes(iso(b)) && /\d+ ?ms late/.test(entry.message),
    );
    expect(
      lines,
      real.logs
        .filter((entry) => entry.message.includes(iso(b)))
        .map((entry) => entry.message)
        .join("\n"),
    ).toHaveLength(1);
  });
});

describe("schedules: the manual clock", () => {
  it("advance: fires every tick due in the advanced time, in time order, each delivery finished before the next step (§schedules/clock/2)", async () => {
    const start = emu.clock.now();
    await emu.clock.advance("3h");
    const end = emu.clock.now();
    for (const name of ["quarterly", "berlin", "new-york"] as const) {
      const got = await runs(name);
      expect(
        got.map((run) => (run.controller as { scheduledTime: number }).scheduledTime),
        name,
      ).toEqual(expected(expressions[name], start, end));
      // Each run started and ended with the clock on its own due time: the clock moved on only after it.
      for (const run of got) {
        const { scheduledTime } = run.controller as { scheduledTime: number };
        expect({ startedAt: run.startedAt, endedAt: run.endedAt }, name).toEqual({
          startedAt: scheduledTime,
          endedAt: scheduledTime,
        });
      }
    }
    const queued = await collected("ticks");
    const fively = queued.filter((m) => (m.body as { schedule?: string }).schedule === "fively");
    expect(fively.map((m) => (m.body as { scheduledTime: number }).scheduledTime)).toEqual(
      expected(expressions.fively, start, end),
    );
    // Each message came with the clock on its tick's due time.
    for (const m of fively) expect(m.at).toBe((m.body as { scheduledTime: number }).scheduledTime);
    expect(queued.filter((m) => (m.body as { report?: string }).report === "hourly").map((m) => m.at)).toEqual(
      expected(expressions.report, start, end),
    );
  });
});
