// The schedule statements of docs/semantics.md that only the emulator can show: what its
// log says, a stop of hours (set up in its state folder), `nimbus trigger` against its
// control API, and its real clock. Everything else about schedules runs on every target
// in test/conformance/schedules.test.ts. Driven through the emulator with a manual clock
// (and, for §schedules/clock/1, the real one), against test/fixtures/schedules; titles
// name the statement they check (§schedules/<section>/<n>).
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { nextRuns, type ScheduleExpression } from "@nimbus/core";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { emulatorEnv, runCliAsync } from "./support/cli.ts";
import { emulatorSuite } from "./support/suite.ts";

let emu: Emulator;
let root: string;
emulatorSuite("schedules", {
  started: (started, dir) => {
    emu = started;
    root = dir;
  },
  // A run a failed test left held ends once `hold` is gone.
  beforeReset: (emu) => emu.bucket("results").delete("hold"),
});

/** A run of `recorder` (test/fixtures/schedules/src/recorder.ts): its controller, and the clock as it started and ended. */
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

const quarterly = { every: "15m" } satisfies ScheduleExpression;

/** The instants `expr` fires at in (from, to], as `nextRuns` gives them. */
function expected(expr: ScheduleExpression, from: number, to: number): number[] {
  return nextRuns(expr, { from: new Date(from), count: 1_000 })
    .map((date) => date.getTime())
    .filter((at) => at <= to);
}

const iso = (ms: number) => new Date(ms).toISOString();
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

/** The runs `recorder` made for schedule `name`, in order of their scheduledTime. */
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

/** The runs `slow` started, in order of their scheduledTime. */
async function slowRuns(emulator = emu): Promise<SlowRun[]> {
  return (await records<SlowRun>("slow/", emulator)).map((r) => r.value);
}

/** Resolves once `check` holds, polling; for work that runs in real time. */
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

describe("schedules: the emulator's log", () => {
  it("scheduled: each failed attempt of a tick is logged with its error, and its drop after 3 attempts (§schedules/firing/5)", async () => {
    const mark = emu.logs.length;
    const { scheduledTime } = await emu.schedule("throwing").trigger();
    await emu.idle();
    await emu.clock.advance("1h");
    const failures = loggedSince(
      mark,
      new RegExp(`^schedule throwing: tick due at ${literal(iso(scheduledTime))} failed: .*throwing threw`),
    ).filter((entry) => entry.fn === "flaky" && entry.level === "error");
    expect(failures).toHaveLength(3);
    expect(loggedSince(mark, /\bthrowing\b.*\bdropped\b/)).toHaveLength(1);
  });

  it("scheduled: a run past the function's timeout is logged as timed out (§schedules/firing/5)", async () => {
    await emu.bucket("results").put("hang-first", "");
    const mark = emu.logs.length;
    const { scheduledTime } = await emu.schedule("flaky").trigger();
    await emu.idle();
    expect(
      loggedSince(
        mark,
        new RegExp(`^schedule flaky: tick due at ${literal(iso(scheduledTime))} failed: timed out after 1s`),
      ).filter((entry) => entry.fn === "flaky" && entry.level === "error"),
    ).toHaveLength(1);
  });

  it("queue and bus targets: each tick the target refuses (queue schema, queue size, bus schema) is logged as dropped; later ticks fire (§schedules/firing/6)", async () => {
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
    }
  });
});

describe("schedules: restarts and missed ticks", () => {
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
      const missed = expected(quarterly, lastFired, start - 1);
      expect(missed.length).toBeGreaterThanOrEqual(8);
      const skipped = loggedSince(0, /skipped/, emulator);
      expect(skipped.map((entry) => entry.message)).toEqual([
        expect.stringMatching(
          new RegExp(
            `\\bquarterly\\b.*\\b${missed.length} ticks\\b.*${literal(iso(missed.at(-1)!))}.*\`nimbus trigger <dir> quarterly\` fires one now$`,
          ),
        ),
      ]);

      const due = nextOf("quarterly", emulator);
      expect(due).toBe(expected(quarterly, start, Number.POSITIVE_INFINITY)[0]);
      await advanceTo(due, emulator);
      expect(await fired("quarterly", emulator)).toEqual([due]);
    } finally {
      await rm(state, { recursive: true, force: true });
    }
  }, 30_000);
});

describe("schedules: triggering", () => {
  it("nimbus trigger: fires the schedule once now through a running emulator; its next tick stays (§schedules/triggering/1)", async () => {
    const now = emu.clock.now();
    const next = nextOf("quarterly");
    const result = await runCliAsync(["trigger", "--url", emu.url, "quarterly"], { env: emulatorEnv(emu) });
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
    // A run still held ends once `hold` is gone.
    await real?.bucket("results").delete("hold");
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
    // Without `hold`, A ends.
    await results.delete("hold");
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
