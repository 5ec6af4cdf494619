// The emulator-only part of the queue contract: what the emulator logs about deliveries,
// its test API and the CLI. Everything a target does is in test/conformance/queues-*.test.ts,
// run on every target; test/conformance/README.md lists what stays here and why.
import type { ChildProcess } from "node:child_process";
import type { Emulator } from "@nimbus/emulator";
import { afterAll, describe, expect, it } from "vitest";
import { copyFixture, eventually } from "./support/app-copy.ts";
import { runCli } from "./support/cli.ts";
import { startDev } from "./support/dev.ts";
import { emulatorSuite, noMessages, uniqueNames } from "./support/suite.ts";

let emu: Emulator;
emulatorSuite("queues", {
  started: (started) => {
    emu = started;
  },
});

/** A name no other test uses. */
const uid = uniqueNames();
/** Every queue of the fixture app, as an unknown queue's error lists them. */
const fixtureQueues =
  '"batched", "brief", "fleeting", "held", "jobs", "jobs-dlq", "once", "once-dlq", "raw", "rt-batched", "rt-doomed", "rt-fleeting", "rt-graveyard", "rt-held", "rt-jobs", "rt-jobs-dlq", "rtd-batched", "rtd-jobs", "rtd-jobs-dlq", "rtd-once", "rtd-once-dlq", "rtd-settings", "rtd-settings-dlq", "rtd-slow", "rtf-jobs", "rtf-jobs-dlq", "rtf-slow", "rtf-stuck", "rtf-stuck-dlq", "slow", "stuck", "stuck-dlq", "typed"';

const zero = noMessages;

/** The log messages written since `mark` (an earlier `emu.logs.length`) that match. */
const loggedSince = (mark: number, pattern: RegExp) =>
  emu.logs.slice(mark).filter((entry) => pattern.test(entry.message));

describe("queues: what the emulator logs", () => {
  it("queue handler: a throw is logged by the function and as the batch's failure (§thrown/2)", async () => {
    const failing = uid("throws");
    const mark = emu.logs.length;
    await emu.queue("jobs").sendBatch([{ body: { id: uid("acked") } }, { body: { id: failing, action: "fail-once" } }]);
    await emu.idle();
    expect(loggedSince(mark, new RegExp(`job ${failing} failed`)).map((e) => [e.fn, e.level])).toContainEqual([
      "worker",
      "error",
    ]);
    expect(loggedSince(mark, new RegExp(`^queue jobs: batch of 2 failed: Error: job ${failing} failed`))).toHaveLength(
      1,
    );
  });

  it("queue handler: a timeout is logged as the batch's failure, the cut-off and the recycled worker (§timeout/1-2)", async () => {
    const mark = emu.logs.length;
    await emu
      .queue("jobs")
      .sendBatch([
        { body: { id: uid("abort"), action: "abort-once" } },
        { body: { id: uid("hang"), action: "hang-once" } },
      ]);
    await emu.idle();
    expect(loggedSince(mark, /^queue jobs: batch of 2 failed: timed out after 5s \d+ms$/)).toHaveLength(1);
    expect(loggedSince(mark, /^timed out after 5s; the run was cut off and the function recycled$/)).toHaveLength(1);
    await eventually(
      () => loggedSince(mark, /^the timed-out run did not stop; recycling its worker$/).length === 1,
      "the stuck run to be stopped",
    );
  }, 20_000);

  it("queue handler: a crash is logged as the batch's failure, naming the exit (§crash/1-2)", async () => {
    const mark = emu.logs.length;
    await emu
      .queue("jobs")
      .sendBatch([{ body: { id: uid("acked") } }, { body: { id: uid("exit"), action: "exit-once" } }]);
    await emu.idle();
    expect(
      loggedSince(
        mark,
        /^queue jobs: batch of 2 failed: function "worker" exited \(code 3\) while handling this request/,
      ),
    ).toHaveLength(1);
  });

  it("queue handler: an error thrown outside the handler is logged (§crash/1)", async () => {
    const id = uid("uncaught");
    const mark = emu.logs.length;
    await emu.queue("jobs").send({ id, action: "uncaught-once" });
    await emu.idle();
    expect(loggedSince(mark, new RegExp(`job ${id} broke outside the handler`))).not.toHaveLength(0);
  });

  it("visibility timeout: an expired delivery is logged with the message id (§visibility/1)", async () => {
    const id = uid("slow");
    const mark = emu.logs.length;
    await emu.queue("slow").send({ id });
    await emu.clock.advance("10s");
    expect(
      loggedSince(
        mark,
        /^queue slow: message [0-9a-f-]{36} was not settled within its visibility timeout; it will be delivered again$/,
      ),
    ).toHaveLength(1);
    await emu.invoke("gated", `/open?id=${id}`, { method: "POST" });
  });

  it("dead letter: the move to the dead-letter queue is logged (§redelivery/4)", async () => {
    const mark = emu.logs.length;
    await emu.queue("jobs").send({ id: uid("doomed"), action: "throw" });
    await emu.idle();
    await emu.clock.advance("1m");
    expect(loggedSince(mark, /^queue jobs: message [0-9a-f-]{36} failed 3 times; moved to "jobs-dlq"$/)).toHaveLength(
      1,
    );
  });

  it("dead letter: without a dead-letter queue the drop is logged with the queue, the message id and the deliveries (§redelivery/6)", async () => {
    const mark = emu.logs.length;
    await emu.queue("raw").send({ throw: true });
    await emu.idle();
    const { objects } = await emu.bucket("results").list({ prefix: "raw/" });
    const ids = new Set(objects.map((o) => o.key.split("/")[1]));
    expect(
      loggedSince(
        mark,
        /^queue raw: message ([0-9a-f-]{36}) failed 3 times and the queue has no dead-letter queue; it was dropped$/,
      ).map((e) => e.message.split(" ")[3]),
    ).toEqual([...ids]);
  });

  it("retention: a drop is logged, for a waiting and for an in-flight message (§retention/1)", async () => {
    const held = uid("fleeting");
    const mark = emu.logs.length;
    await emu.queue("brief").send({ id: uid("too-late") }, { delay: "2m" });
    await emu.queue("fleeting").send({ id: held });
    await emu.clock.advance("1m");
    expect(loggedSince(mark, /^queue brief: dropped 1 message\(s\) older than its retention$/)).toHaveLength(1);
    expect(loggedSince(mark, /^queue fleeting: dropped 1 message\(s\) older than its retention$/)).toHaveLength(1);
    await emu.invoke("gated", `/open?id=${held}`, { method: "POST" });
  });
});

describe("emu.queue", () => {
  it("start: a queue no function consumes and nothing feeds is a warning; consumed and dead-letter queues are not", () => {
    const warnings = emu.logs.filter((e) => e.level === "warn" && !e.fn && /^queue "/.test(e.message));
    expect(warnings.map((e) => e.message)).toEqual([
      'queue "typed" has no consumer and no rule feeds it: messages sent to it (function "sender" sends to it) wait until its retention drops them. Subscribe a function to it (`.subscribe(fn)` on the queue) or remove it.',
    ]);
  });

  it("queue: an unknown queue fails naming the app's queues", () => {
    expect(() => emu.queue("nope")).toThrow(`The app has no queue "nope" (its queues: ${fixtureQueues}).`);
    expect(emu.queue("jobs").stats()).toEqual(zero);
  });
});

describe("nimbus send, queues and redrive", () => {
  const children: ChildProcess[] = [];
  const copies: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const child of children) child.kill("SIGKILL");
    await Promise.all(copies.map((removeCopy) => removeCopy()));
  });

  it("send, queues, redrive: drive the queues of a running nimbus dev", async () => {
    const copy = await copyFixture("queues");
    copies.push(copy.remove);
    const dev = await startDev(copy.dir);
    children.push(dev.child);
    const stderr: string[] = [];
    dev.child.stderr!.setEncoding("utf8").on("data", (chunk: string) => stderr.push(chunk));
    const current = async () => (await (await dev.control("/queues")).json()) as Record<string, typeof zero>;
    /** Polls the running emulator's stats (real clock: deliveries take real time) until `check` holds. */
    const until = async (check: (s: Record<string, typeof zero>) => boolean, what: string) => {
      for (const deadline = Date.now() + 10_000; !check(await current()); ) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await current())}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };

    const sent = runCli(["send", copy.dir, "jobs", '{"id":"cli"}']);
    expect(sent.stderr).toBe("");
    expect(sent.stdout).toMatch(/^sent [0-9a-f-]{36} to jobs\n$/);
    expect(sent.status).toBe(0);
    await until((s) => s.jobs?.depth === 0 && s.jobs.inFlight === 0, "jobs to drain");

    expect(runCli(["send", copy.dir, "once", '{"id":"cli-dead","action":"throw"}']).status).toBe(0);
    await until((s) => s["once-dlq"]?.depth === 1, "the failed message to be dead-lettered");

    const table = runCli(["queues", copy.dir]);
    expect(table.stderr).toBe("");
    expect(table.status).toBe(0);
    // One line per queue of the app, in name order, the columns right-aligned under the header.
    const lines = table.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^queue +depth {2}in flight {2}delayed {2}dead-lettered$/);
    expect(new Set(lines.map((line) => line.length)).size).toBe(1);
    const rows = Object.fromEntries(
      lines.slice(1).map((line) => {
        const [name, ...counts] = line.split(/ +/);
        return [name, counts.map(Number)];
      }),
    );
    expect(Object.keys(rows)).toEqual(Object.keys(rows).sort());
    expect(Object.keys(rows)).toEqual(expect.arrayContaining(["batched", "jobs", "jobs-dlq", "typed"]));
    for (const [name, counts] of Object.entries(rows)) {
      const expected = name === "once" ? [0, 0, 0, 1] : name === "once-dlq" ? [1, 0, 0, 0] : [0, 0, 0, 0];
      expect(counts, name).toEqual(expected);
    }

    const redriven = runCli(["redrive", copy.dir, "once-dlq"]);
    expect(redriven.stderr).toBe("");
    expect(redriven.stdout).toBe("moved 1 message back to once\n");
    expect(redriven.status).toBe(0);
    // It still throws, so it dies again: two moves to once-dlq in the log.
    const moves = () => stderr.join("").match(/failed once; moved to \\"once-dlq\\"/g) ?? [];
    await until((s) => s["once-dlq"]?.depth === 1 && s.once?.inFlight === 0, "the redriven message to fail again");
    await eventually(() => moves().length === 2, "the second move to be logged", 5_000);

    expect(runCli(["redrive", copy.dir, "jobs"]).stdout).toBe("jobs holds no dead-lettered messages.\n");

    const unknown = runCli(["send", copy.dir, "nope", "{}"]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toBe(`✖ The app has no queue "nope" (its queues: ${fixtureQueues}).\n`);
    const notJson = runCli(["send", copy.dir, "jobs", "{id:1}"]);
    expect(notJson.status).toBe(1);
    expect(notJson.stderr).toMatch(/^✖ The message must be JSON \(quote it for your shell/);
  }, 60_000);
});
