// docs/semantics.md, "Schedules", on every target, against test/fixtures/schedules. Fired
// times are compared with `nextRuns` from @nimbus/core, and with what the fixture's
// expressions mean on their own (multiples of the interval, wall-clock hours in the zone).
// A statement about time has two forms: on the emulator's manual clock it is exact; on the
// real clock (processes, docker) the app gets the fixture's 2-second schedules and the test
// checks what the handlers recorded within real-time.ts's tolerances. What only the
// emulator's log shows stays in test/schedules.test.ts (see README.md, "emulator-only
// statements").
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { nextRuns, type ScheduleExpression, scheduleLimits } from "@nimbus/core";
import { beforeAll, expect } from "vitest";
import { copyApp } from "../support/app-copy.ts";
import { runCliAsync } from "../support/cli.ts";
import { conformance, type DeployedApp, editApp, fixture } from "./conformance.ts";
import type { QueueCounts } from "./driver.ts";
import { early, expectAbout, late, sleep, waitFor } from "./real-time.ts";

/** A run of `recorder` (src/recorder.ts): its controller, and the target's clock as it started and as it ended. */
interface Run {
  controller: unknown;
  startedAt: number;
  endedAt: number;
}

/** What `slow` writes for each run (src/slow.ts). */
interface SlowRun {
  controller: { schedule: string; scheduledTime: number };
  startedAt: number;
  others: number[];
  held: boolean;
}

const zero: QueueCounts = { depth: 0, inFlight: 0, delayed: 0, deadLettered: 0 };

/** The fixture's expressions, written out again: the oracle `nextRuns` is asked with. */
const expressions = {
  quarterly: { every: "15m" },
  fively: { rate: "rate(5 minutes)" },
  berlin: { cron: "0 */3 * * *", timezone: "Europe/Berlin" },
  "new-york": { cron: "30 */3 * * *", timezone: "America/New_York" },
  report: { cron: "45 * * * *" },
  slow: { every: "10m" },
} satisfies Record<string, ScheduleExpression>;

/** The fixture's real-clock schedules (declared once `realClock` is switched on), written out again. */
const fast = {
  "every-2s": { every: "2s" },
  "berlin-2s": { cron: "*/2 * * * * *", timezone: "Europe/Berlin" },
  "new-york-2s": { cron: "1/2 * * * * *", timezone: "America/New_York" },
  "queue-2s": { every: "2s" },
  "bus-2s": { every: "2s" },
} satisfies Record<string, ScheduleExpression>;

/** The fixture's app file with its real-clock schedules declared. */
const withRealClock = (source: string) => source.replace("const realClock = false;", "const realClock = true;");

/** The instants `expr` fires at in (from, to], as `nextRuns` gives them. */
function expected(expr: ScheduleExpression, from: number, to: number): number[] {
  return nextRuns(expr, { from: new Date(from), count: 1_000 })
    .map((date) => date.getTime())
    .filter((at) => at <= to);
}

/** The first instant after `from` that `expr` fires at. */
const nextAfter = (expr: ScheduleExpression, from: number) =>
  nextRuns(expr, { from: new Date(from), count: 1 })[0]!.getTime();

const iso = (ms: number) => new Date(ms).toISOString();
/** A time as an event's `time`: ISO 8601 in UTC, to the second. */
const isoSecond = (ms: number) => iso(Math.floor(ms / 1_000) * 1_000).replace(".000Z", "Z");

/** The wall-clock hour and minute of `at` in `timeZone`. */
function wallClock(at: number, timeZone: string): { hour: number; minute: number } {
  const parts = new Intl.DateTimeFormat("en-GB", { timeZone, hour: "numeric", minute: "numeric", hourCycle: "h23" })
    .formatToParts(new Date(at))
    .filter((part) => part.type === "hour" || part.type === "minute");
  const value = (type: string) => Number(parts.find((part) => part.type === type)!.value);
  return { hour: value("hour"), minute: value("minute") };
}

/** Resolves once `check` holds, polling; for runs a test holds open, which idle() would wait for. */
async function until(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  for (const deadline = Date.now() + ms; !(await check()); ) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Moves `app`'s clock to exactly `at`. */
async function advanceTo(app: DeployedApp, at: number): Promise<void> {
  const now = await app.now();
  expect(at).toBeGreaterThanOrEqual(now);
  if (at > now) await app.advance(at - now);
}

/** What the fixture's handlers left in the `results` bucket of one deployed app. */
function results(app: DeployedApp) {
  const bucket = app.bucket("results");
  /** Every object under `prefix`, parsed, in key order, with its upload time (the target's clock). */
  async function records<T>(prefix: string): Promise<{ key: string; value: T; uploaded: number }[]> {
    const { objects } = await bucket.list({ prefix });
    return Promise.all(
      objects.map(async (o) => ({
        key: o.key,
        value: JSON.parse(await (await bucket.get(o.key))!.text()) as T,
        uploaded: o.uploaded.getTime(),
      })),
    );
  }
  /** The runs `recorder` made for schedule `name`, in order of their scheduledTime; a tick run twice shows twice. */
  const runs = async (name: string): Promise<Run[]> =>
    (await records<Omit<Run, "endedAt">>(`ticks/${name}/`)).map((r) => ({ ...r.value, endedAt: r.uploaded }));
  return {
    runs,
    /** The scheduledTimes `recorder` got from schedule `name`, one per run. */
    fired: async (name: string) =>
      (await runs(name)).map((run) => (run.controller as { scheduledTime: number }).scheduledTime),
    /** The messages `collector` got from `queue`, in the order they came (the clock's, then by body). */
    collected: async (queue: string) =>
      (await records<unknown>(`messages/${queue}/`))
        .map(({ key, value, uploaded }) => ({ body: value, at: uploaded, attempt: Number(key.split("/").pop()) }))
        .sort((a, b) => a.at - b.at || JSON.stringify(a.body).localeCompare(JSON.stringify(b.body))),
    /** The attempts `flaky` made at the tick due at `at`. */
    attempts: async (at: number) =>
      (await bucket.list({ prefix: `flaky/${at}/` })).objects
        .map((o) => Number(o.key.split("/").pop()))
        .sort((a, b) => a - b),
    /** When the handler of `throwing` was called for the tick due at `at`: the clock in ms, in order. */
    throws: async (at: number) =>
      (await bucket.list({ prefix: `throwing/${at}/` })).objects.map((o) => o.uploaded.getTime()).sort((a, b) => a - b),
    /** The runs `slow` started, in order of their scheduledTime. */
    slowRuns: async () => (await records<SlowRun>("slow/")).map((r) => r.value),
    /** When `flaky` made each attempt at the tick due at `at` (the target's clock), in attempt order. */
    attemptTimes: async (at: number) =>
      (await bucket.list({ prefix: `flaky/${at}/` })).objects
        .sort((a, b) => Number(a.key.split("/").pop()) - Number(b.key.split("/").pop()))
        .map((o) => o.uploaded.getTime()),
    /** Lets `flaky` succeed from now on at the tick due at `at`. */
    fix: (at: number) => bucket.put(`fixed/${at}`, ""),
    bucket,
  };
}

/** The UTC column of `nimbus schedule next` for the app in `root`, as ms. */
async function scheduleNext(root: string, name: string, from: number, count: number): Promise<number[]> {
  const result = await runCliAsync(["schedule", "next", root, name, "--from", iso(from), "--count", String(count)]);
  expect(result.stderr).toBe("");
  expect(result.status).toBe(0);
  return result.stdout
    .trimEnd()
    .split("\n")
    .slice(1)
    .map((line) => Date.parse(line.trim().split(/\s+/).pop()!));
}

conformance(
  "schedules",
  {
    app: fixture("schedules"),
    manualClock: true,
    // A run a failed test left held ends once `hold` is gone.
    beforeReset: (app) => app.bucket("results").delete("hold"),
  },
  (t) => {
    // On the real clock the section's app gets the fixture's 2-second schedules: on the
    // manual clock an advance of hours would fire thousands of their ticks.
    beforeAll(async () => {
      if (!t.manualClock && t.driver.realClockForms === undefined) await editApp(t.app, withRealClock);
    });

    /** A deployment of its own of the fixture with its real-clock schedules. */
    async function deployRealClock(): Promise<DeployedApp> {
      const copy = await copyApp(fixture("schedules"));
      try {
        const file = join(copy.dir, "nimbus.app.ts");
        await writeFile(file, withRealClock(await readFile(file, "utf8")));
        return await t.deploy(copy.dir);
      } finally {
        await copy.remove();
      }
    }

    // Firing

    t.test(
      "§schedules/firing/1 tick: every and rate fire at exactly the times nextRuns gives, whole multiples of the interval since the epoch; nimbus schedule next lists them",
      {
        manual: async () => {
          const { fired, collected } = results(t.app);
          const start = await t.app.now();
          const first = nextAfter(expressions.quarterly, start);

          // Not a millisecond early, and on the dot.
          await advanceTo(t.app, first - 1);
          expect(await fired("quarterly")).toEqual([]);
          await t.app.advance(1);
          expect(await fired("quarterly")).toEqual([first]);

          await t.app.advance("1h");
          const end = await t.app.now();
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

          expect(await scheduleNext(t.app.root, "quarterly", start, quarterly.length)).toEqual(quarterly);
        },
        real: async () => {
          // `every: "2s"`; a rate is at least a minute, so on the real clock only its
          // offline listing is checked (both are the same interval once parsed).
          const { fired } = results(t.app);
          const start = await t.app.now();
          const times = await waitFor("2 ticks of every-2s", async () => {
            const got = (await fired("every-2s")).filter((at) => at > start);
            return got.length >= 2 && got;
          });
          expect(times).toEqual(expected(fast["every-2s"], start, times.at(-1)!));
          for (const at of times) expect(at % 2_000).toBe(0);
          expect(await scheduleNext(t.app.root, "every-2s", start, times.length)).toEqual(times);
          const fively = await scheduleNext(t.app.root, "fively", start, 3);
          expect(fively).toEqual(
            nextRuns(expressions.fively, { from: new Date(start), count: 3 }).map((d) => d.getTime()),
          );
          for (const at of fively) expect(at % 300_000).toBe(0);
        },
      },
    );

    t.test(
      "§schedules/firing/1 tick: a cron fires at its wall-clock times in its time zone (Europe/Berlin, America/New_York)",
      {
        manual: async () => {
          const { fired } = results(t.app);
          const start = await t.app.now();
          await t.app.advance("3h");
          const end = await t.app.now();
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
            expect(await scheduleNext(t.app.root, name, start, 1), name).toEqual(times);
          }
        },
        real: async () => {
          // Seconds-crons in each zone: Berlin's on even seconds, New York's on odd ones.
          const { fired } = results(t.app);
          const start = await t.app.now();
          // Both zones at once: their ticks interleave.
          await Promise.all(
            (
              [
                ["berlin-2s", 0],
                ["new-york-2s", 1],
              ] as const
            ).map(async ([name, parity]) => {
              const times = await waitFor(`2 ticks of ${name}`, async () => {
                const got = (await fired(name)).filter((at) => at > start);
                return got.length >= 2 && got;
              });
              expect(times, name).toEqual(expected(fast[name], start, times.at(-1)!));
              for (const at of times) expect((at / 1_000) % 2, name).toBe(parity);
              expect(await scheduleNext(t.app.root, name, start, times.length), name).toEqual(times);
            }),
          );
        },
      },
    );

    t.test("§schedules/firing/2 scheduled: a function target's handler gets { schedule, scheduledTime }", async () => {
      const { runs } = results(t.app);
      const { scheduledTime } = await t.app.schedule("quarterly").trigger();
      await t.app.idle();
      expect((await runs("quarterly")).map((run) => run.controller)).toEqual([
        { schedule: "quarterly", scheduledTime },
      ]);
    });

    t.test("§schedules/firing/2 scheduled: a tick's scheduledTime is its due time in ms, and the run starts then", {
      manual: async () => {
        const { runs } = results(t.app);
        const due = nextAfter(expressions.quarterly, await t.app.now());
        await advanceTo(t.app, due);
        const got = await runs("quarterly");
        expect(got.map((run) => run.controller)).toEqual([{ schedule: "quarterly", scheduledTime: due }]);
        expect(got[0]!.startedAt).toBe(due);
      },
      real: async () => {
        const { runs } = results(t.app);
        const due = nextAfter(fast["every-2s"], await t.app.now());
        const run = await waitFor("the next tick of every-2s", async () =>
          (await runs("every-2s")).find((r) => (r.controller as { scheduledTime: number }).scheduledTime === due),
        );
        expect(run.controller).toEqual({ schedule: "every-2s", scheduledTime: due });
        expectAbout("the run's start after its due time", run.startedAt - due, 0);
      },
    });

    t.test(
      "§schedules/firing/3 queue target: a tick sends one message: { schedule, scheduledTime } without a payload, the payload with one",
      async () => {
        const { collected } = results(t.app);
        const { scheduledTime } = await t.app.schedule("fively").trigger();
        await t.app.schedule("report").trigger();
        await t.app.idle();
        const got = (await collected("ticks")).map(({ body, attempt }) => ({ body, attempt }));
        expect(got).toHaveLength(2);
        expect(got).toEqual(
          expect.arrayContaining([
            { body: { schedule: "fively", scheduledTime }, attempt: 1 },
            { body: { report: "hourly" }, attempt: 1 },
          ]),
        );
      },
    );

    t.test("§schedules/firing/3 queue target: each tick due sends one message, when it falls due", {
      manual: async () => {
        const { collected } = results(t.app);
        const start = await t.app.now();
        const due = nextAfter(expressions.report, start);
        await advanceTo(t.app, due);
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
      },
      real: async () => {
        const { collected } = results(t.app);
        const start = await t.app.now();
        const got = await waitFor("2 messages of queue-2s", async () => {
          const messages = (await collected("fast-ticks")).filter(
            (m) => (m.body as { scheduledTime: number }).scheduledTime > start,
          );
          return messages.length >= 2 && messages;
        });
        const last = (got.at(-1)!.body as { scheduledTime: number }).scheduledTime;
        expect(got.map(({ body, attempt }) => ({ body, attempt }))).toEqual(
          expected(fast["queue-2s"], start, last).map((at) => ({
            body: { schedule: "queue-2s", scheduledTime: at },
            attempt: 1,
          })),
        );
        for (const m of got) {
          expectAbout(
            "the message's arrival after its tick",
            m.at - (m.body as { scheduledTime: number }).scheduledTime,
            0,
          );
        }
      },
    });

    t.test(
      "§schedules/firing/4 bus target: a tick puts one event from nimbus.schedule with the schedule as resource and the due time; rules match it as any put",
      async () => {
        const { collected } = results(t.app);
        const byResource = async (resource: string) =>
          (await collected("events"))
            .map((m) => m.body as { resources: string[] })
            .filter((event) => event.resources[0] === resource);
        const { scheduledTime: tick } = await t.app.schedule("bus-tick").trigger();
        await t.app.idle();
        expect(await byResource("bus-tick")).toEqual([
          {
            version: "0",
            id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
            "detail-type": "Scheduled Event",
            source: "nimbus.schedule",
            account: "000000000000",
            time: isoSecond(tick),
            region: "local",
            resources: ["bus-tick"],
            detail: { schedule: "bus-tick", scheduledTime: tick },
          },
        ]);
        // Only `clock/ticks` matched it.
        expect(await t.app.queue("picked").stats()).toEqual(zero);

        const { scheduledTime } = await t.app.schedule("bus-payload").trigger();
        await t.app.idle();
        expect(await byResource("bus-payload")).toEqual([
          {
            version: "0",
            id: expect.any(String),
            "detail-type": "Scheduled Event",
            source: "nimbus.schedule",
            account: "000000000000",
            time: isoSecond(scheduledTime),
            region: "local",
            resources: ["bus-payload"],
            detail: { report: "daily" },
          },
        ]);
        // Matched by every rule as a put is: `clock/by-resource` too, never `clock/never`.
        expect(await t.app.queue("picked").stats()).toEqual({ ...zero, depth: 1 });
        expect(await t.app.queue("unmatched").stats()).toEqual(zero);
      },
    );

    t.test("§schedules/firing/4 bus target: a tick due puts its event with time the due time", {
      manual: async () => {
        const { collected } = results(t.app);
        const due = nextAfter({ every: "1h" }, await t.app.now());
        await advanceTo(t.app, due);
        const events = (await collected("events"))
          .map((m) => m.body as { resources: string[]; time: string; detail: unknown })
          .filter((event) => event.resources[0] === "bus-tick");
        expect(events).toEqual([
          expect.objectContaining({ time: isoSecond(due), detail: { schedule: "bus-tick", scheduledTime: due } }),
        ]);
      },
      real: async () => {
        const { collected } = results(t.app);
        const due = nextAfter(fast["bus-2s"], await t.app.now());
        const got = await waitFor("the next tick of bus-2s", async () => {
          const events = (await collected("events")).filter(
            (m) => (m.body as { resources: string[] }).resources[0] === "bus-2s",
          );
          return (
            events.some((m) => (m.body as { detail: { scheduledTime: number } }).detail.scheduledTime === due) && events
          );
        });
        const event = got.find((m) => (m.body as { detail: { scheduledTime: number } }).detail.scheduledTime === due)!;
        expect(event.body).toEqual(
          expect.objectContaining({
            source: "nimbus.schedule",
            "detail-type": "Scheduled Event",
            time: isoSecond(due),
            detail: { schedule: "bus-2s", scheduledTime: due },
          }),
        );
        expect(
          got.filter((m) => (m.body as { detail: { scheduledTime: number } }).detail.scheduledTime === due),
        ).toHaveLength(1);
        expectAbout("the event's arrival after its tick", event.at - due, 0);
      },
    });

    t.test(
      "§schedules/firing/5 scheduled: a handler that throws is retried after 1 s, then after 1 to 2 s, and dropped after 3 attempts",
      {
        manual: async () => {
          const { throws } = results(t.app);
          const { scheduledTime } = await t.app.schedule("throwing").trigger();
          await t.app.idle();
          expect(await throws(scheduledTime)).toEqual([scheduledTime]);
          // b = 1s after the first attempt: exactly 1 s.
          await t.app.advance(999);
          expect(await throws(scheduledTime)).toHaveLength(1);
          await t.app.advance(1);
          expect(await throws(scheduledTime)).toEqual([scheduledTime, scheduledTime + 1_000]);
          // b = 2s after the second: within [1 s, 2 s].
          await t.app.advance(999);
          expect(await throws(scheduledTime)).toHaveLength(2);
          await t.app.advance(1_001);
          const all = await throws(scheduledTime);
          expect(all).toHaveLength(3);
          expect(all[2]! - all[1]!).toBeGreaterThanOrEqual(1_000);
          expect(all[2]! - all[1]!).toBeLessThanOrEqual(2_000);
          await t.app.advance("1h");
          expect(await throws(scheduledTime)).toHaveLength(3);
        },
        real: async () => {
          const { throws } = results(t.app);
          const { scheduledTime } = await t.app.schedule("throwing").trigger();
          const all = await waitFor(
            "3 attempts of throwing",
            async () => {
              const got = await throws(scheduledTime);
              return got.length >= 3 && got;
            },
            10_000,
          );
          // Each record's put is not awaited (the handler throws first), so it can land after
          // the failure: the back-offs' lower bounds count from the trigger, before attempt 1.
          expectAbout("attempt 1 after the trigger", all[0]! - scheduledTime, 0);
          expect(all[1]! - scheduledTime).toBeGreaterThanOrEqual(1_000 - early);
          expect(all[1]! - all[0]!).toBeLessThanOrEqual(1_000 + late);
          expect(all[2]! - scheduledTime).toBeGreaterThanOrEqual(2_000 - early);
          expect(all[2]! - all[1]!).toBeLessThanOrEqual(2_000 + late);
          // A 4th attempt would come at most 4 s after the 3rd.
          await sleep(all[2]! + 4_500 - Date.now());
          expect(await throws(scheduledTime)).toHaveLength(3);
        },
      },
    );

    t.test(
      "§schedules/firing/5 scheduled: a handler that rejects is retried with the same scheduledTime; a retry that succeeds ends it",
      {
        manual: async () => {
          const { attempts, fix } = results(t.app);
          const { scheduledTime } = await t.app.schedule("flaky").trigger();
          await t.app.idle();
          expect(await attempts(scheduledTime)).toEqual([1]);
          await fix(scheduledTime);
          await t.app.advance("1s");
          expect(await attempts(scheduledTime)).toEqual([1, 2]);
          await t.app.advance("1h");
          expect(await attempts(scheduledTime)).toEqual([1, 2]);
        },
        real: async () => {
          const { attempts, attemptTimes, fix } = results(t.app);
          const { scheduledTime } = await t.app.schedule("flaky").trigger();
          // Settled: attempt 1 failed and its retry waits.
          await t.app.idle();
          expect(await attempts(scheduledTime)).toEqual([1]);
          await fix(scheduledTime);
          const times = await waitFor("attempt 2", async () => {
            const got = await attemptTimes(scheduledTime);
            return got.length === 2 && got;
          });
          expectAbout("the back-off before attempt 2", times[1]! - times[0]!, 1_000);
          // A 3rd attempt would come 1 to 2 s after the 2nd.
          await sleep(times[1]! + 2_500 - Date.now());
          expect(await attempts(scheduledTime)).toEqual([1, 2]);
        },
      },
    );

    t.test("§schedules/firing/5 scheduled: a run past the function's timeout is retried", {
      manual: async () => {
        const { attempts, fix, bucket } = results(t.app);
        await bucket.put("hang-first", "");
        const { scheduledTime } = await t.app.schedule("flaky").trigger();
        // flaky's timeout (1 s) is real time: idle() waits for the run to be cut off.
        await t.app.idle();
        expect(await attempts(scheduledTime)).toEqual([1]);
        await fix(scheduledTime);
        await t.app.advance(999);
        expect(await attempts(scheduledTime)).toEqual([1]);
        await t.app.advance(1);
        expect(await attempts(scheduledTime)).toEqual([1, 2]);
      },
      real: async () => {
        const { attempts, attemptTimes, fix, bucket } = results(t.app);
        await bucket.put("hang-first", "");
        const { scheduledTime } = await t.app.schedule("flaky").trigger();
        await waitFor("attempt 1", async () => (await attempts(scheduledTime)).length === 1);
        await fix(scheduledTime);
        const times = await waitFor("attempt 2", async () => {
          const got = await attemptTimes(scheduledTime);
          return got.length === 2 && got;
        });
        // Cut off after flaky's 1 s timeout, then the 1 s back-off.
        expectAbout("the timeout and back-off before attempt 2", times[1]! - times[0]!, 2_000);
        expect(await attempts(scheduledTime)).toEqual([1, 2]);
      },
    });

    t.test(
      "§schedules/firing/6 queue and bus targets: a tick the target refuses (queue schema, queue size, bus schema) is dropped",
      async () => {
        for (const schedule of ["refused", "oversized", "refused-bus"]) await t.app.schedule(schedule).trigger();
        await t.app.idle();
        expect(await t.app.queue("strict").stats()).toEqual(zero);
        expect(await t.app.queue("small").stats()).toEqual(zero);
      },
    );

    // Overlap

    t.test(
      "§schedules/overlap/1 tick: a tick due while the previous run still goes is handed over when it ends, with its own scheduledTime",
      {
        manual: async () => {
          const { slowRuns, bucket } = results(t.app);
          const started = async (count: number) => (await slowRuns()).length === count;
          await bucket.put("hold", "");

          // Run A, by hand, held open.
          const { scheduledTime: a } = await t.app.schedule("slow").trigger();
          await until(() => started(1), "run A to start");

          // B falls due while A goes: stored, not started, also 5 minutes later. (A is held at
          // most 15 minutes of the clock: less than its delivery's visibility timeout, slow's
          // timeout plus 30 s, after which A would count as failed.)
          const b = nextAfter(expressions.slow, await t.app.now());
          await advanceTo(t.app, b);
          await t.app.advance("5m");
          expect(await slowRuns()).toHaveLength(1);

          await bucket.put(`open/${a}`, "");
          await until(() => started(2), "run B to start once A ends");

          // C falls due while B goes.
          const c = nextAfter(expressions.slow, await t.app.now());
          expect(c).toBe(b + 600_000);
          await advanceTo(t.app, c);
          expect(await slowRuns()).toHaveLength(2);

          await bucket.delete("hold");
          await until(() => started(3), "run C to start once B ends");
          await t.app.idle();

          expect(await slowRuns()).toEqual([
            { controller: { schedule: "slow", scheduledTime: a }, startedAt: a, others: [], held: true },
            { controller: { schedule: "slow", scheduledTime: b }, startedAt: b + 300_000, others: [], held: true },
            { controller: { schedule: "slow", scheduledTime: c }, startedAt: c, others: [], held: false },
          ]);
        },
        real: async () => {
          const { slowRuns, bucket } = results(t.app);
          const ofSlow2s = async () => (await slowRuns()).filter((run) => run.controller.schedule === "slow-2s");
          await bucket.put("hold", "");
          const a = await waitFor("a held run A of slow-2s", async () => (await ofSlow2s()).find((run) => run.held));
          // B falls due 2 s after A, while A is held: not started while A goes.
          const b = a.controller.scheduledTime + 2_000;
          await sleep(b + 1_000 - Date.now());
          expect((await ofSlow2s()).filter((run) => run.controller.scheduledTime > a.controller.scheduledTime)).toEqual(
            [],
          );

          const released = Date.now();
          await bucket.delete("hold");
          const runB = await waitFor("run B once A ends", async () =>
            (await ofSlow2s()).find((run) => run.controller.scheduledTime === b),
          );
          expect(runB).toEqual({
            controller: { schedule: "slow-2s", scheduledTime: b },
            startedAt: expect.any(Number),
            others: [],
            held: false,
          });
          expectAbout("B's start after A was let go", runB.startedAt - released, 0);
          // Each tick once, none started while another went.
          const all = await ofSlow2s();
          const times = all.map((run) => run.controller.scheduledTime);
          expect(new Set(times).size).toBe(times.length);
          for (const run of all)
            expect(
              run.others.filter((at) => times.includes(at)),
              String(run.controller.scheduledTime),
            ).toEqual([]);
        },
      },
    );

    // Restarts and missed ticks

    t.test(
      "§schedules/restarts/1 restart: a tick fired before the stop is not fired again; a delivery stored before it is made after it",
      {
        manual: async () => {
          const app = await t.deploy(fixture("schedules"), { manualClock: true });
          const { fired, attempts, fix } = results(app);
          const start = await app.now();
          await app.advance("30m");
          const last = nextAfter(expressions.quarterly, await app.now());
          await advanceTo(app, last);
          expect(await fired("quarterly")).toEqual(expected(expressions.quarterly, start, last));
          // A run that fails: its retry waits in the schedule's delivery queue over the stop.
          const failing = (await app.schedule("flaky").trigger()).scheduledTime;
          await app.idle();
          expect(await attempts(failing)).toEqual([1]);
          await fix(failing);

          await app.restart();
          // A restarted manual clock starts at the real now, before the last tick fired.
          expect(await app.now()).toBeLessThan(last);
          await advanceTo(app, last + 30 * 60_000);
          // Each tick once, across both runs.
          expect(await fired("quarterly")).toEqual(expected(expressions.quarterly, start, last + 30 * 60_000));
          expect(await attempts(failing)).toEqual([1, 2]);
        },
        real: async () => {
          const app = await deployRealClock();
          const { fired, attempts, attemptTimes, fix } = results(app);
          await waitFor("2 ticks of every-2s", async () => (await fired("every-2s")).length >= 2);
          // A run that fails: its retry, 1 s later, waits in the schedule's delivery queue over the stop.
          const failing = (await app.schedule("flaky").trigger()).scheduledTime;
          await waitFor("attempt 1", async () => (await attempts(failing)).length === 1);
          await fix(failing);
          const before = await fired("every-2s");
          const stopping = await app.now();
          await app.restart();
          const restarted = await app.now();

          const after = await waitFor("2 ticks of every-2s after the restart", async () => {
            const got = await fired("every-2s");
            return got.filter((at) => at > restarted).length >= 2 && got;
          });
          // Each tick once, across both runs; those fired before the stop among them.
          expect(new Set(after).size).toBe(after.length);
          expect(after.slice(0, before.length)).toEqual(before);
          // A retry that a host had taken when it was stopped is made again once its lease
          // (`flaky`'s 1 s timeout + 30 s) has passed, after the back-off (§schedules/firing/5).
          const lease = 1_000 + scheduleLimits.leaseMargin;
          const times = await waitFor(
            "attempt 2",
            async () => {
              const got = await attemptTimes(failing);
              return got.length === 2 && got;
            },
            lease + 15_000,
          );
          // Its back-off kept, made after the stop, at the latest one lease and back-off after it.
          expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(1_000 - early);
          expect(times[1]!).toBeGreaterThanOrEqual(stopping);
          expect(times[1]!).toBeLessThanOrEqual(
            Math.max(times[0]! + 1_000, restarted, stopping + lease + 1_000) + late,
          );
          expect(await attempts(failing)).toEqual([1, 2]);
        },
      },
      { timeout: 120_000 },
    );

    t.test("§schedules/restarts/1 kill -9: a delivery stored before the kill is made after it", {
      manual: async () => {
        const app = await t.deploy(fixture("schedules"), { manualClock: true });
        const { attempts, fix } = results(app);
        const failing = (await app.schedule("flaky").trigger()).scheduledTime;
        await app.idle();
        expect(await attempts(failing)).toEqual([1]);
        await fix(failing);
        await app.kill();
        // Its retry falls due 1 s after the first attempt, which may have passed while the target came back.
        const now = await app.now();
        if (now < failing + 1_000) await app.advance(failing + 1_000 - now);
        await app.idle();
        expect(await attempts(failing)).toEqual([1, 2]);
      },
      real: async () => {
        const app = await t.deploy(fixture("schedules"));
        const { attempts, attemptTimes, fix } = results(app);
        const failing = (await app.schedule("flaky").trigger()).scheduledTime;
        // Settled: attempt 1 failed and its retry waits.
        await app.idle();
        expect(await attempts(failing)).toEqual([1]);
        await fix(failing);
        // Its retry falls due 1 s after attempt 1: killed before then.
        const killing = await app.now();
        await app.kill();
        const back = await app.now();
        const times = await waitFor("attempt 2", async () => {
          const got = await attemptTimes(failing);
          return got.length === 2 && got;
        });
        // Its back-off kept, made after the kill, and as soon as the target is back when due meanwhile.
        expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(1_000 - early);
        expect(times[1]!).toBeGreaterThanOrEqual(killing);
        expect(times[1]!).toBeLessThanOrEqual(Math.max(times[0]! + 1_000, back) + late);
        expect(await attempts(failing)).toEqual([1, 2]);
      },
    });

    t.test(
      "§schedules/restarts/3 update: a changed schedule is armed anew from now; an unchanged one keeps its next tick",
      {
        manual: async () => {
          const { fired } = results(t.app);
          const tokyo = { cron: "0 */3 * * *", timezone: "Asia/Tokyo" };
          const file = join(t.app.root, "nimbus.app.ts");
          const original = await readFile(file, "utf8");
          const edited = original.replace(
            'cron: "0 */3 * * *", timezone: "Europe/Berlin"',
            'cron: "0 */3 * * *", timezone: "Asia/Tokyo"',
          );
          expect(edited).not.toBe(original);
          await writeFile(file, edited);
          await t.app.update();
          try {
            const start = await t.app.now();
            await t.app.advance("3h");
            const end = await t.app.now();
            // Tokyo is 9 hours ahead of UTC, a multiple of 3: its times are not Berlin's.
            const times = await fired("berlin");
            expect(times).toEqual(expected(tokyo, start, end));
            expect(times).not.toEqual(expected(expressions.berlin, start, end));
            expect(await fired("quarterly")).toEqual(expected(expressions.quarterly, start, end));
          } finally {
            await writeFile(file, original);
            await t.app.update();
          }
        },
        real: async () => {
          // berlin-2s moves from even to odd seconds; every-2s is left as it is.
          const { fired } = results(t.app);
          const odd = { cron: "1/2 * * * * *", timezone: "Europe/Berlin" };
          const restore = await editApp(t.app, (source) =>
            source.replace(
              'cron: "*/2 * * * * *", timezone: "Europe/Berlin"',
              'cron: "1/2 * * * * *", timezone: "Europe/Berlin"',
            ),
          );
          try {
            const updated = await t.app.now();
            const berlin = await waitFor(`2 ticks of berlin-2s after the update at ${iso(updated)}`, async () => {
              const got = (await fired("berlin-2s")).filter((at) => at > updated);
              return got.length >= 2 && got;
            });
            expect(berlin).toEqual(expected(odd, updated, berlin.at(-1)!));
            expect(berlin).not.toEqual(expected(fast["berlin-2s"], updated, berlin.at(-1)!));
            const every = (await fired("every-2s")).filter((at) => at > updated && at <= berlin.at(-1)!);
            expect(every).toEqual(expected(fast["every-2s"], updated, berlin.at(-1)!));
          } finally {
            await restore();
          }
        },
      },
    );

    // Triggering

    t.test("§schedules/triggering/1 trigger: fires the schedule once now, with scheduledTime now", async () => {
      const { runs } = results(t.app);
      const before = await t.app.now();
      const { scheduledTime } = await t.app.schedule("quarterly").trigger();
      const after = await t.app.now();
      expect(scheduledTime).toBeGreaterThanOrEqual(before);
      expect(scheduledTime).toBeLessThanOrEqual(after);
      await t.app.idle();
      expect((await runs("quarterly")).map((run) => run.controller)).toEqual([
        { schedule: "quarterly", scheduledTime },
      ]);
    });

    t.test("§schedules/triggering/1 trigger: does not move the schedule's next tick", {
      manual: async () => {
        const { fired } = results(t.app);
        const now = await t.app.now();
        const next = nextAfter(expressions.quarterly, now);
        expect(await t.app.schedule("quarterly").trigger()).toEqual({ scheduledTime: now });
        await t.app.idle();
        expect(await fired("quarterly")).toEqual([now]);
        await advanceTo(t.app, next - 1);
        expect(await fired("quarterly")).toEqual([now]);
        await t.app.advance(1);
        expect(await fired("quarterly")).toEqual([now, next]);
      },
      real: async () => {
        const { fired } = results(t.app);
        const before = await t.app.now();
        const { scheduledTime } = await t.app.schedule("every-2s").trigger();
        expect(scheduledTime).toBeGreaterThanOrEqual(before);
        const next = nextAfter(fast["every-2s"], scheduledTime);
        const got = await waitFor("2 ticks of every-2s after the trigger", async () => {
          const times = (await fired("every-2s")).filter((at) => at >= scheduledTime);
          return times.includes(next + 2_000) && times;
        });
        // The grid tick due at the trigger's own time (1 in 2,000) fires as well.
        const onGrid = scheduledTime % 2_000 === 0 ? [scheduledTime] : [];
        expect(got).toEqual([scheduledTime, ...onGrid, next, next + 2_000]);
      },
    });

    // The clock

    t.test(
      "§schedules/clock/2 advance: fires every tick due in the advanced time, in time order, each delivery finished before the next step",
      {
        manual: async () => {
          const { runs, collected } = results(t.app);
          const start = await t.app.now();
          await t.app.advance("3h");
          const end = await t.app.now();
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
        },
        real: async () => {
          // The real clock: every tick due in a span fires once, in time order, each run at its
          // due time and ended before the next of its schedule starts.
          const { runs, collected } = results(t.app);
          const start = await t.app.now();
          const end = start + 4_000;
          await sleep(end + 1_000 - Date.now());
          for (const name of ["every-2s", "berlin-2s", "new-york-2s"] as const) {
            const got = await waitFor(`the ticks of ${name} up to ${iso(end)}`, async () => {
              const all = (await runs(name)).filter((run) => {
                const at = (run.controller as { scheduledTime: number }).scheduledTime;
                return at > start && at <= end;
              });
              return all.length >= expected(fast[name], start, end).length && all;
            });
            expect(
              got.map((run) => (run.controller as { scheduledTime: number }).scheduledTime),
              name,
            ).toEqual(expected(fast[name], start, end));
            for (const [i, run] of got.entries()) {
              const { scheduledTime } = run.controller as { scheduledTime: number };
              expectAbout(`${name}: the run's start after its due time`, run.startedAt - scheduledTime, 0);
              if (i > 0) expect(run.startedAt, name).toBeGreaterThanOrEqual(got[i - 1]!.endedAt);
            }
          }
          const queued = (await collected("fast-ticks"))
            .map((m) => ({ at: m.at, scheduledTime: (m.body as { scheduledTime: number }).scheduledTime }))
            .filter((m) => m.scheduledTime > start && m.scheduledTime <= end);
          expect(queued.map((m) => m.scheduledTime)).toEqual(expected(fast["queue-2s"], start, end));
          for (const m of queued) expectAbout("the message's arrival after its tick", m.at - m.scheduledTime, 0);
        },
      },
    );
  },
);
