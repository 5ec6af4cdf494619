// The queue contract of docs/semantics.md ("Queues"), driven through the emulator with a
// manual clock. Titles name the statement they check where there is one (§ section/n).
import type { ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, describe, expect, it } from "vitest";
import { copyFixture, eventually } from "./support/app-copy.ts";
import { runCli } from "./support/cli.ts";
import { startDev } from "./support/dev.ts";
import { editApp, emulatorSuite, noMessages, uniqueNames } from "./support/suite.ts";

let emu: Emulator;
let root: string;
emulatorSuite("queues", {
  started: (started, dir) => {
    emu = started;
    root = dir;
  },
});

/** A name no other test uses. */
const uid = uniqueNames();

const zero = noMessages;
const stats = (queue: string) => emu.queue(queue).stats();

interface Delivery {
  queue: string;
  messageId: string;
  batch: string[];
  timestamp: string;
}

/** The folder `worker` records a queue's deliveries in. */
const folder = (queue: string) => (queue === "jobs" ? "deliveries" : queue);

/** The attempts with which `worker` got message `id` from `queue`, in order. */
async function deliveries(id: string, queue = "jobs"): Promise<number[]> {
  const { objects } = await emu.bucket("results").list({ prefix: `${folder(queue)}/${id}/` });
  return objects.map((o) => Number(o.key.split("/").pop())).sort((a, b) => a - b);
}

/** What `worker` recorded for delivery `attempt` of message `id` from `queue`. */
async function delivery(id: string, attempt: number, queue = "jobs"): Promise<Delivery> {
  const object = await emu.bucket("results").get(`${folder(queue)}/${id}/${attempt}`);
  if (!object) throw new Error(`no delivery ${attempt} of ${id} from ${queue}`);
  return JSON.parse(await object.text());
}

/** The batches `batched`'s collector got, as lists of ids. */
async function batches(): Promise<string[][]> {
  const { objects } = await emu.bucket("results").list({ prefix: "batches/" });
  return objects.map((o) => o.key.slice("batches/".length).split(","));
}

interface Echo {
  queue: string;
  id: string;
  attempts: number;
  timestamp: string;
  type: string;
  body: unknown;
}

/** What `echo` recorded for every delivery from `raw`. */
async function echoed(): Promise<Echo[]> {
  const results = emu.bucket("results");
  const { objects } = await results.list({ prefix: "raw/" });
  return Promise.all(objects.map(async (o) => JSON.parse(await (await results.get(o.key))!.text())));
}

/** The log messages written since `mark` (an earlier `emu.logs.length`) that match. */
const loggedSince = (mark: number, pattern: RegExp) =>
  emu.logs.slice(mark).filter((entry) => pattern.test(entry.message));

/** How `send` failed: a rejected promise, or (wrongly, for a method that returns a promise) a synchronous throw. */
async function outcome(send: () => Promise<void>): Promise<{ how: "rejected" | "threw" | "resolved"; error?: any }> {
  let promise: Promise<void>;
  try {
    promise = send();
  } catch (error) {
    return { how: "threw", error };
  }
  return promise.then(
    () => ({ how: "resolved" }),
    (error: unknown) => ({ how: "rejected", error }),
  );
}

describe("queues: delivery and success", () => {
  it("queue handler: returning acks ack()ed and unsettled messages alike, and they never come back (§success/1-2)", async () => {
    const acked = uid("acked");
    const left = uid("left");
    await emu.queue("jobs").sendBatch([{ body: { id: acked } }, { body: { id: left, action: "leave" } }]);
    await emu.idle();
    expect(await deliveries(acked)).toEqual([1]);
    expect(await deliveries(left)).toEqual([1]);
    expect(stats("jobs")).toEqual(zero);

    await emu.clock.advance("6h");
    expect(await deliveries(acked)).toEqual([1]);
    expect(await deliveries(left)).toEqual([1]);
    expect(stats("jobs")).toEqual(zero);
    expect(stats("jobs-dlq")).toEqual(zero);
  });

  it("queue handler: gets the batch's queue and each message's id, body, attempts and first-sent time (§delivery/6)", async () => {
    const sentAt = emu.clock.now();
    await emu.queue("raw").send({ hello: "world", n: [1, 2] });
    await emu.idle();
    expect(await echoed()).toEqual([
      {
        queue: "raw",
        id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
        attempts: 1,
        timestamp: new Date(sentAt).toISOString(),
        type: "object",
        body: { hello: "world", n: [1, 2] },
      },
    ]);
  });

  it("queue handler: a message keeps its id and first-sent time on every delivery; attempts count up (§delivery/6)", async () => {
    const id = uid("same");
    const sentAt = new Date(emu.clock.now()).toISOString();
    await emu.queue("jobs").send({ id, action: "fail-once" });
    await emu.idle();
    await emu.clock.advance("10s");
    const [first, second] = [await delivery(id, 1), await delivery(id, 2)];
    expect(second.messageId).toBe(first.messageId);
    expect([first.timestamp, second.timestamp]).toEqual([sentAt, sentAt]);
  });

  it("sendBatch: message ids are unique (§delivery/6)", async () => {
    await emu.queue("raw").sendBatch(Array.from({ length: 20 }, (_, i) => ({ body: i })));
    await emu.idle();
    expect(new Set((await echoed()).map((e) => e.id)).size).toBe(20);
  });

  it("send: at most `concurrency` batches run at once; the others wait as depth (§delivery/5)", async () => {
    const ids = [uid("c"), uid("c"), uid("c")];
    for (const id of ids) await emu.queue("slow").send({ id });
    // `slow` takes one message a batch, two batches at a time; gated holds each until it is opened.
    expect(stats("slow")).toEqual({ ...zero, inFlight: 2, depth: 1 });
    for (const id of ids) await emu.invoke("gated", `/open?id=${id}`, { method: "POST" });
    await emu.idle();
    expect(stats("slow")).toEqual(zero);
    const { objects } = await emu.bucket("results").list({ prefix: "gated/" });
    expect(objects.map((o) => o.key).sort()).toEqual(ids.map((id) => `gated/${id}/1`).sort());
  });

  it("sendBatch: a batch holds messages of one queue only (§delivery/3)", async () => {
    const [job, lone] = [uid("job"), uid("lone")];
    await emu.queue("jobs").send({ id: job });
    await emu.queue("once").send({ id: lone });
    await emu.idle();
    expect(await delivery(job, 1)).toMatchObject({ queue: "jobs", batch: [job] });
    expect(await delivery(lone, 1, "once")).toMatchObject({ queue: "once", batch: [lone] });
  });
});

describe("queues: settling and retries", () => {
  it("retry: redelivers after the back-off: exactly initial the first time, then within [initial, 2 × initial] (§redelivery/2)", async () => {
    const id = uid("retry");
    await emu.queue("jobs").send({ id, action: "retry" });
    await emu.idle();
    expect(await deliveries(id)).toEqual([1]);
    expect(stats("jobs")).toEqual({ ...zero, delayed: 1 });

    // b = min(1m, 10s × 2⁰) = 10s; uniform in [max(10s, 5s), 10s]: exactly 10 s.
    await emu.clock.advance(9_999);
    expect(await deliveries(id)).toEqual([1]);
    await emu.clock.advance(1);
    expect(await deliveries(id)).toEqual([1, 2]);

    // b = 20s; uniform in [max(10s, 10s), 20s].
    await emu.clock.advance(9_999);
    expect(await deliveries(id)).toEqual([1, 2]);
    await emu.clock.advance(10_001);
    expect(await deliveries(id)).toEqual([1, 2, 3]);
  });

  it("retry: with a delay waits exactly that long; a retry counts as a delivery towards maxAttempts (§redelivery/3-4)", async () => {
    const id = uid("later");
    await emu.queue("jobs").send({ id, action: "retry-later" });
    await emu.idle();
    expect(await deliveries(id)).toEqual([1]);
    await emu.clock.advance(4_999);
    expect(await deliveries(id)).toEqual([1]);
    expect(stats("jobs")).toEqual({ ...zero, delayed: 1 });
    await emu.clock.advance(1);
    expect(await deliveries(id)).toEqual([1, 2]);
    await emu.clock.advance(5_000);
    expect(await deliveries(id)).toEqual([1, 2, 3]);
    expect(stats("jobs")).toEqual({ ...zero, deadLettered: 1 });
  });

  it("retry: a delay of 0 makes the message deliverable again at once (§redelivery/3)", async () => {
    const id = uid("now");
    await emu.queue("jobs").send({ id, action: "retry-now" });
    await emu.idle();
    expect(await deliveries(id)).toEqual([1, 2, 3]);
    expect(stats("jobs")).toEqual({ ...zero, deadLettered: 1 });
  });

  it("retryAll: retries every message of the batch after exactly its delay; the last call for a message wins (§redelivery/3)", async () => {
    const [acked, all] = [uid("acked-first"), uid("retry-all")];
    await emu.queue("jobs").sendBatch([{ body: { id: acked } }, { body: { id: all, action: "retry-all" } }]);
    await emu.idle();
    expect(stats("jobs")).toEqual({ ...zero, delayed: 2 });
    await emu.clock.advance(6_999);
    expect(await deliveries(acked)).toEqual([1]);
    await emu.clock.advance(1);
    expect(await deliveries(acked)).toEqual([1, 2]);
    expect(await deliveries(all)).toEqual([1, 2]);
  });

  it("ack, retry: for one message the last call wins", async () => {
    const [acked, retried] = [uid("retry-then-ack"), uid("ack-then-retry")];
    await emu
      .queue("jobs")
      .sendBatch([
        { body: { id: acked, action: "retry-then-ack" } },
        { body: { id: retried, action: "ack-then-retry" } },
      ]);
    await emu.idle();
    expect(stats("jobs")).toEqual({ ...zero, delayed: 1 });
    await emu.clock.advance("5s");
    expect(await deliveries(acked)).toEqual([1]);
    expect(await deliveries(retried)).toEqual([1, 2]);
  });

  it("queue handler: a throw keeps what was settled, retries the unsettled messages, and logs the error (§thrown/1-2)", async () => {
    const [acked, later, failing, unsettled] = [uid("acked"), uid("later"), uid("throws"), uid("unsettled")];
    const mark = emu.logs.length;
    await emu
      .queue("jobs")
      .sendBatch([
        { body: { id: acked } },
        { body: { id: later, action: "retry-later" } },
        { body: { id: failing, action: "fail-once" } },
        { body: { id: unsettled } },
      ]);
    await emu.idle();
    expect((await delivery(acked, 1)).batch).toEqual([acked, later, failing, unsettled]);
    expect(stats("jobs")).toEqual({ ...zero, delayed: 3 });
    expect(loggedSince(mark, new RegExp(`job ${failing} failed`)).map((e) => [e.fn, e.level])).toContainEqual([
      "worker",
      "error",
    ]);
    expect(loggedSince(mark, new RegExp(`^queue jobs: batch of 4 failed: Error: job ${failing} failed`))).toHaveLength(
      1,
    );

    // The retried one keeps its own delay (5 s), the unsettled ones get the back-off (10 s).
    await emu.clock.advance("5s");
    expect(await deliveries(later)).toEqual([1, 2]);
    expect(await deliveries(failing)).toEqual([1]);
    await emu.clock.advance("5s");
    expect(await deliveries(acked)).toEqual([1]);
    expect(await deliveries(failing)).toEqual([1, 2]);
    expect(await deliveries(unsettled)).toEqual([1, 2]);
    // `later` is retried every 5 s: its third delivery is due now too, and as the oldest it comes first.
    expect((await delivery(failing, 2)).batch).toEqual([later, failing, unsettled]);
  });

  it("queue handler: a throw after ackAll() loses nothing; it never affects another batch (§thrown/1, §thrown/3)", async () => {
    const [first, thrower, next] = [uid("ack-all"), uid("thrower"), uid("next")];
    await emu
      .queue("jobs")
      .sendBatch([{ body: { id: first, action: "ack-all" } }, { body: { id: thrower, action: "throw" } }]);
    // Sent while that batch runs: it comes in the next batch, which the throw does not touch.
    await emu.queue("jobs").send({ id: next });
    await emu.idle();
    expect(await delivery(next, 1)).toMatchObject({ batch: [next] });
    expect(stats("jobs")).toEqual(zero);
    await emu.clock.advance("1h");
    for (const id of [first, thrower, next]) expect(await deliveries(id), id).toEqual([1]);
  });

  it("queue handler: a timeout on real time fails the batch, aborts ctx.signal, stops a run that ignores it, and delivery goes on (§timeout/1-3)", async () => {
    const [aborted, hung] = [uid("abort"), uid("hang")];
    const mark = emu.logs.length;
    const before = emu.clock.now();
    await emu
      .queue("jobs")
      .sendBatch([{ body: { id: aborted, action: "abort-once" } }, { body: { id: hung, action: "hang-once" } }]);
    // The worker's timeout (5 s) is real time: idle() waits for the run to be cut off, the clock stands still.
    await emu.idle();
    expect(emu.clock.now()).toBe(before);
    expect(stats("jobs")).toEqual({ ...zero, delayed: 2 });
    expect(loggedSince(mark, /^queue jobs: batch of 2 failed: timed out after 5s \d+ms$/)).toHaveLength(1);
    expect(loggedSince(mark, /^timed out after 5s; the run was cut off and the function recycled$/)).toHaveLength(1);
    // The handler saw its signal abort, went on to the message that hangs, and was stopped with its worker.
    await eventually(
      () => loggedSince(mark, /^the timed-out run did not stop; recycling its worker$/).length === 1,
      "the stuck run to be stopped",
    );
    expect(await (await emu.bucket("results").get(`aborted/${aborted}`))?.text()).toBe("TimeoutError");

    const next = uid("after-timeout");
    await emu.queue("jobs").send({ id: next });
    await emu.idle();
    expect(await deliveries(next)).toEqual([1]);

    await emu.clock.advance("10s");
    expect(await deliveries(aborted)).toEqual([1, 2]);
    expect(await deliveries(hung)).toEqual([1, 2]);
    expect(stats("jobs")).toEqual(zero);
  }, 20_000);

  it("queue handler: a crash (process.exit) retries every message of the batch, acked ones too; the emulator delivers on (§crash/1-2)", async () => {
    const [acked, crash, after] = [uid("acked"), uid("exit"), uid("after")];
    const mark = emu.logs.length;
    await emu
      .queue("jobs")
      .sendBatch([{ body: { id: acked } }, { body: { id: crash, action: "exit-once" } }, { body: { id: after } }]);
    await emu.idle();
    expect(stats("jobs")).toEqual({ ...zero, delayed: 3 });
    expect(
      loggedSince(
        mark,
        /^queue jobs: batch of 3 failed: function "worker" exited \(code 3\) while handling this request/,
      ),
    ).toHaveLength(1);

    const response = await emu.fetch("/send", { method: "POST", body: JSON.stringify({ id: uid("alive") }) });
    expect(response.status).toBe(202);
    await emu.idle();

    await emu.clock.advance("10s");
    for (const id of [acked, crash, after]) expect(await deliveries(id), id).toEqual([1, 2]);
    expect(stats("jobs")).toEqual(zero);
  });

  it("queue handler: an error thrown outside the handler is a crash: the batch is retried (§crash/1)", async () => {
    const id = uid("uncaught");
    const mark = emu.logs.length;
    await emu.queue("jobs").send({ id, action: "uncaught-once" });
    await emu.idle();
    expect(stats("jobs")).toEqual({ ...zero, delayed: 1 });
    expect(loggedSince(mark, new RegExp(`job ${id} broke outside the handler`))).not.toHaveLength(0);
    await emu.clock.advance("10s");
    expect(await deliveries(id)).toEqual([1, 2]);
    expect(stats("jobs")).toEqual(zero);
  });

  it("queue handler: a crash fails the other batches running in the same worker too (§crash/3)", async () => {
    const [running, crash] = [uid("running"), uid("crash")];
    await emu.queue("jobs").send({ id: running, action: "slow", ms: 2_000 });
    await emu.queue("once").send({ id: crash, action: "exit" });
    await emu.idle();
    expect(await deliveries(running)).toEqual([1]);
    expect(stats("jobs")).toEqual({ ...zero, delayed: 1 });
    expect(stats("once")).toEqual({ ...zero, deadLettered: 1 });
  });
});

describe("queues: visibility timeout", () => {
  it("visibility timeout: a delivery still running after it counts as failed and is delivered again; the late ack is ignored (§visibility/1-2)", async () => {
    const id = uid("slow");
    const mark = emu.logs.length;
    await emu.queue("slow").send({ id });
    expect(stats("slow")).toEqual({ ...zero, inFlight: 1 });

    // The handler holds the message until its gate opens; meanwhile its visibility timeout (10 s) passes.
    await emu.clock.advance("10s");
    expect(stats("slow")).toEqual({ ...zero, delayed: 1 });
    expect(
      loggedSince(
        mark,
        /^queue slow: message [0-9a-f-]{36} was not settled within its visibility timeout; it will be delivered again$/,
      ),
    ).toHaveLength(1);

    // The held delivery ends with an ack: too late, the message stays (retried after the 1 s back-off).
    await emu.invoke("gated", `/open?id=${id}`, { method: "POST" });
    await emu.idle();
    expect(stats("slow")).toEqual({ ...zero, delayed: 1 });
    await emu.clock.advance("1s");
    const { objects } = await emu.bucket("results").list({ prefix: `gated/${id}/` });
    expect(objects.map((o) => o.key)).toEqual([`gated/${id}/1`, `gated/${id}/2`]);
    expect(stats("slow")).toEqual(zero);
  });
});

describe("queues: dead letters and redrive", () => {
  it("dead letter: after maxAttempts deliveries the message moves to the dead-letter queue, and the log says so (§redelivery/4)", async () => {
    const id = uid("doomed");
    const mark = emu.logs.length;
    await emu.queue("jobs").send({ id, action: "fail-unless-fixed" });
    await emu.idle();
    // One advance runs the whole chain: 10 s, then 10–20 s, each delivery settled before the next step.
    await emu.clock.advance("1m");
    expect(await deliveries(id)).toEqual([1, 2, 3]);
    expect(stats("jobs")).toEqual({ ...zero, deadLettered: 1 });
    expect(stats("jobs-dlq")).toEqual({ ...zero, depth: 1 });
    expect(loggedSince(mark, /^queue jobs: message [0-9a-f-]{36} failed 3 times; moved to "jobs-dlq"$/)).toHaveLength(
      1,
    );
    // It keeps its attempt count, first-seen time and last error (§redelivery/5).
    const [dead] = emu.queue("jobs-dlq").deadLettered();
    expect(dead).toMatchObject({
      body: { id, action: "fail-unless-fixed" },
      queue: "jobs",
      attempts: 3,
      lastError: expect.stringContaining(`job ${id}`),
    });
    expect(dead?.firstSeen.getTime()).toBeLessThanOrEqual(emu.clock.now());

    // It stays there: nothing consumes the dead-letter queue.
    await emu.clock.advance("1h");
    expect(await deliveries(id)).toEqual([1, 2, 3]);
    expect(stats("jobs-dlq")).toEqual({ ...zero, depth: 1 });
  });

  it("redrive: moves dead-lettered messages back, deliverable at once, attempts from 1, id and time kept; direct sends stay (§redelivery/7)", async () => {
    const [id, direct] = [uid("redriven"), uid("direct")];
    const sentAt = new Date(emu.clock.now()).toISOString();
    await emu.queue("jobs").send({ id, action: "fail-unless-fixed" });
    await emu.queue("jobs-dlq").send({ id: direct });
    await emu.idle();
    await emu.clock.advance("1m");
    const died = await delivery(id, 3);
    expect(stats("jobs-dlq")).toEqual({ ...zero, depth: 2 });

    await emu.bucket("results").put(`fixed/${id}`, "");
    expect(emu.queue("jobs-dlq").redrive()).toEqual({ jobs: 1 });
    const redrivenAt = emu.clock.now();
    await emu.idle();
    const again = await emu.bucket("results").head(`deliveries/${id}/1`);
    expect(again?.uploaded.getTime()).toBe(redrivenAt);
    expect(await delivery(id, 1)).toMatchObject({ messageId: died.messageId, timestamp: sentAt });
    expect(stats("jobs")).toEqual(zero);
    expect(stats("jobs-dlq")).toEqual({ ...zero, depth: 1 });
    expect(emu.queue("jobs-dlq").redrive()).toEqual({});
    expect(emu.queue("jobs").redrive()).toEqual({});
  });

  it("dead letter: maxAttempts 1 moves a failed message at once", async () => {
    const id = uid("once");
    await emu.queue("once").send({ id, action: "throw" });
    await emu.idle();
    expect(await deliveries(id, "once")).toEqual([1]);
    expect(stats("once")).toEqual({ ...zero, deadLettered: 1 });
    expect(stats("once-dlq")).toEqual({ ...zero, depth: 1 });
  });

  it("dead letter: without a dead-letter queue the message is dropped after maxAttempts, and the drop is logged; back-off 0s retries at once (§redelivery/2, §redelivery/6)", async () => {
    const mark = emu.logs.length;
    await emu.queue("raw").send({ throw: true });
    await emu.idle();
    const got = await echoed();
    expect(got.map((e) => e.attempts).sort()).toEqual([1, 2, 3]);
    expect(stats("raw")).toEqual(zero);
    expect(
      loggedSince(
        mark,
        /^queue raw: message ([0-9a-f-]{36}) failed 3 times and the queue has no dead-letter queue; it was dropped$/,
      ).map((e) => e.message.split(" ")[3]),
    ).toEqual([got[0]!.id]);
  });

  it("reload: a consumer subscribed to a waiting queue gets its messages; in a dead-letter queue attempts start at 1, id and time kept (§delivery/2, §redelivery/5)", async () => {
    const id = uid("dead");
    const sentAt = new Date(emu.clock.now()).toISOString();
    await emu.queue("once").send({ id, action: "fail-unless-fixed" });
    await emu.idle();
    expect(stats("once-dlq")).toEqual({ ...zero, depth: 1 });
    const died = await delivery(id, 1, "once");

    await emu.bucket("results").put(`fixed/${id}`, "");
    const restore = await editApp(emu, root, (source) =>
      source.replace("export default app;", "once.deadLetterQueue!.subscribe(worker);\n\nexport default app;"),
    );
    try {
      await emu.idle();
      expect(await deliveries(id, "once-dlq")).toEqual([1]);
      expect(await delivery(id, 1, "once-dlq")).toMatchObject({ messageId: died.messageId, timestamp: sentAt });
      expect(stats("once-dlq")).toEqual(zero);
      expect(stats("once")).toEqual(zero);
    } finally {
      await restore();
    }
  });
});

describe("queues: order and batches", () => {
  it("sendBatch: a batch holds the oldest messages first, in send order (§ordering/1)", async () => {
    const ids = Array.from({ length: 5 }, () => uid("ordered"));
    await emu.queue("jobs").sendBatch(ids.map((id) => ({ body: { id } })));
    await emu.idle();
    expect((await delivery(ids[0]!, 1)).batch).toEqual(ids);
  });

  it("send: messages sent while a batch runs come in the next batches, at most batchSize each, in send order (§ordering/1, §delivery/3)", async () => {
    const first = uid("first");
    const rest = Array.from({ length: 12 }, () => uid("queued"));
    await emu.queue("jobs").send({ id: first });
    for (const id of rest) await emu.queue("jobs").send({ id });
    await emu.idle();
    expect((await delivery(first, 1)).batch).toEqual([first]);
    expect((await delivery(rest[0]!, 1)).batch).toEqual(rest.slice(0, 10));
    expect((await delivery(rest[10]!, 1)).batch).toEqual(rest.slice(10));
  });

  it("retry: a message deliverable again goes before messages sent after it (§ordering/2)", async () => {
    const [older, newer] = [uid("older"), uid("newer")];
    await emu.queue("jobs").send({ id: older, action: "retry-later" });
    await emu.idle();
    await emu.clock.advance("1s");
    // Sent after `older`, deliverable at the same moment as its retry (5 s after its first delivery).
    await emu.queue("jobs").send({ id: newer }, { delay: "4s" });
    await emu.clock.advance("4s");
    expect((await delivery(newer, 1)).batch).toEqual([older, newer]);
  });

  it("send: a delayed message does not hold back messages sent after it (§delays/3)", async () => {
    const [delayed, prompt] = [uid("delayed"), uid("prompt")];
    await emu.queue("jobs").send({ id: delayed }, { delay: "1h" });
    await emu.queue("jobs").send({ id: prompt });
    await emu.idle();
    expect(await delivery(prompt, 1)).toMatchObject({ batch: [prompt] });
    expect(await deliveries(delayed)).toEqual([]);
  });

  it("subscribe: a full batch is delivered as soon as batchSize messages are ready (§delivery/4)", async () => {
    const ids = [uid("b"), uid("b"), uid("b")];
    await emu.queue("batched").sendBatch(ids.map((id) => ({ body: { id } })));
    await emu.idle();
    expect(await batches()).toEqual([ids]);
    expect(stats("batched")).toEqual(zero);
  });

  it("subscribe: a partial batch is delivered once its oldest message has waited maxBatchWait (§delivery/4)", async () => {
    const ids = [uid("p"), uid("p")];
    for (const id of ids) await emu.queue("batched").send({ id });
    await emu.idle();
    expect(await batches()).toEqual([]);
    expect(stats("batched")).toEqual({ ...zero, depth: 2 });
    await emu.clock.advance(19_999);
    expect(await batches()).toEqual([]);
    await emu.clock.advance(1);
    expect(await batches()).toEqual([ids]);
    expect(stats("batched")).toEqual(zero);
  });

  it("subscribe: the wait counts from the oldest message, not the latest (§delivery/4)", async () => {
    const [oldest, newer] = [uid("oldest"), uid("newer")];
    await emu.queue("batched").send({ id: oldest });
    await emu.clock.advance("15s");
    await emu.queue("batched").send({ id: newer });
    await emu.clock.advance(4_999);
    expect(await batches()).toEqual([]);
    await emu.clock.advance(1);
    expect(await batches()).toEqual([[oldest, newer]]);
  });

  it("subscribe: a delayed message's wait starts when it becomes deliverable (§delivery/4)", async () => {
    const id = uid("delayed-batch");
    await emu.queue("batched").send({ id }, { delay: "30s" });
    await emu.clock.advance(30_000 + 19_999);
    expect(await batches()).toEqual([]);
    await emu.clock.advance(1);
    expect(await batches()).toEqual([[id]]);
  });

  it("subscribe: a partial batch whose oldest message waited maxBatchWait while the consumer was busy goes as soon as a slot frees (§delivery/4)", async () => {
    const [a, b, c] = [uid("held"), uid("held"), uid("held")];
    // A full batch (two) is delivered and held open; `held` runs one batch at a time.
    await emu.queue("held").sendBatch([{ body: { id: a } }, { body: { id: b } }]);
    expect(stats("held")).toEqual({ ...zero, inFlight: 2 });
    await emu.queue("held").send({ id: c });
    await emu.clock.advance("15s");
    expect(stats("held")).toEqual({ ...zero, inFlight: 2, depth: 1 });

    // `c` has waited 15 s, more than maxBatchWait (10 s): once the slot frees it is delivered at once.
    for (const id of [a, b, c]) await emu.invoke("gated", `/open?id=${id}`, { method: "POST" });
    await emu.idle();
    expect(await emu.bucket("results").head(`gated/${c}/1`), "c was delivered").not.toBeNull();
    expect(stats("held")).toEqual(zero);
  });

  it("subscribe: a third message completes a waiting batch at once (§delivery/4)", async () => {
    const ids = [uid("w"), uid("w"), uid("w")];
    await emu.queue("batched").send({ id: ids[0]! });
    await emu.queue("batched").send({ id: ids[1]! });
    await emu.clock.advance("5s");
    expect(await batches()).toEqual([]);
    await emu.queue("batched").send({ id: ids[2]! });
    await emu.idle();
    expect(await batches()).toEqual([ids]);
  });

  it("subscribe: batches never exceed batchSize; the remainder waits for maxBatchWait (§delivery/3-4)", async () => {
    const ids = Array.from({ length: 7 }, () => uid("s"));
    await emu.queue("batched").sendBatch(ids.map((id) => ({ body: { id } })));
    await emu.idle();
    const full = await batches();
    expect(full.sort((a, b) => ids.indexOf(a[0]!) - ids.indexOf(b[0]!))).toEqual([ids.slice(0, 3), ids.slice(3, 6)]);
    expect(stats("batched")).toEqual({ ...zero, depth: 1 });
    await emu.clock.advance("20s");
    expect((await batches()).map((batch) => batch.length).sort()).toEqual([1, 3, 3]);
    expect(stats("batched")).toEqual(zero);
  });
});

describe("queues: delays", () => {
  it("send: a delay holds the message back that long, counted as delayed meanwhile (§delays/1)", async () => {
    const id = uid("delayed");
    await emu.queue("jobs").send({ id }, { delay: "30s" });
    await emu.idle();
    expect(stats("jobs")).toEqual({ ...zero, delayed: 1 });
    await emu.clock.advance(29_999);
    expect(await deliveries(id)).toEqual([]);
    expect(stats("jobs")).toEqual({ ...zero, delayed: 1 });
    await emu.clock.advance(1);
    expect(await deliveries(id)).toEqual([1]);
    expect(stats("jobs")).toEqual(zero);
  });

  it("send: a binding's delay in seconds (?delay=30 through sender) holds the message back 30 s (§delays/2)", async () => {
    const id = uid("binding-delay");
    const response = await emu.fetch("/send?delay=30", { method: "POST", body: JSON.stringify({ id }) });
    expect(response.status).toBe(202);
    await emu.idle();
    expect(stats("jobs")).toEqual({ ...zero, delayed: 1 });
    await emu.clock.advance(29_999);
    expect(await deliveries(id)).toEqual([]);
    await emu.clock.advance(1);
    expect(await deliveries(id)).toEqual([1]);
  });

  it("sendBatch: each message keeps its own delay; 0 and 12h are allowed (§delays/1-2)", async () => {
    const [now, soon, later, longest] = [uid("now"), uid("soon"), uid("later"), uid("longest")];
    await emu.queue("jobs").sendBatch([
      { body: { id: now }, delay: 0 },
      { body: { id: soon }, delay: 10 },
      { body: { id: later }, delay: "1m" },
      { body: { id: longest }, delay: "12h" },
    ]);
    await emu.idle();
    expect(await deliveries(now)).toEqual([1]);
    expect(stats("jobs")).toEqual({ ...zero, delayed: 3 });
    await emu.clock.advance("10s");
    expect(await deliveries(soon)).toEqual([1]);
    expect(await deliveries(later)).toEqual([]);
    await emu.clock.advance("50s");
    expect(await deliveries(later)).toEqual([1]);
    await emu.clock.advance("12h");
    expect(await deliveries(longest)).toEqual([1]);
  });

  it("send: a delay outside 0s to 12h fails the send with a rejected promise naming the queue and the message; nothing is stored (§delays/2)", async () => {
    for (const delay of ["13h", -1, "soon", 43_201]) {
      const { how, error } = await outcome(() =>
        emu.queue("jobs").send({ id: uid("bad-delay") }, { delay: delay as never }),
      );
      expect({ how, code: error?.code, message: error?.message }, String(delay)).toMatchObject({
        how: "rejected",
        code: "NIMBUS_QUEUE_DELAY",
        message: expect.stringMatching(/^queue "jobs": message 1: a delay must be a duration from 0s to 12h/),
      });
    }
    const batch = await outcome(() =>
      emu.queue("jobs").sendBatch([{ body: { id: uid("fine") } }, { body: { id: uid("bad") }, delay: "1y" as never }]),
    );
    expect({ how: batch.how, message: batch.error?.message }).toMatchObject({
      how: "rejected",
      message: expect.stringMatching(/^queue "jobs": message 2: /),
    });
    await emu.idle();
    expect(stats("jobs")).toEqual(zero);
    expect((await emu.bucket("results").list({ prefix: "deliveries/" })).objects).toEqual([]);
  });

  it("send: a binding's delay that is not a number is refused, naming the value (§delays/2)", async () => {
    const response = await emu.fetch("/send?delay=soon", { method: "POST", body: JSON.stringify({ id: uid("nan") }) });
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    expect(error.code).toBe("NIMBUS_QUEUE_DELAY");
    expect(error.message).toMatch(/^queue "jobs": message 1: a delay must be a duration from 0s to 12h.*found NaN$/);
    expect(stats("jobs")).toEqual(zero);
  });
});

describe("queues: limits and bodies", () => {
  const limit = 256 * 1024;

  it("reload: a setting outside its limits, or a second consumer, fails the build naming the queue and the setting (§limits/1, §delivery/2)", async () => {
    const file = join(root, "nimbus.app.ts");
    const original = await readFile(file, "utf8");
    try {
      await writeFile(file, original.replace("delivery: { maxAttempts: 1 }", "delivery: { maxAttempts: 0 }"));
      await expect(emu.reload()).rejects.toThrow(/queue "once", delivery\.maxAttempts: .*1/);
      await writeFile(
        file,
        original.replace("export default app;", "jobs.subscribe(collector);\n\nexport default app;"),
      );
      await expect(emu.reload()).rejects.toThrow(/queue "jobs".*one consumer/);
    } finally {
      await writeFile(file, original);
      await emu.reload();
    }
    // The last good app kept serving meanwhile.
    const id = uid("still");
    await emu.queue("jobs").send({ id });
    await emu.idle();
    expect(await deliveries(id)).toEqual([1]);
  });

  it("send: a message over maxMessageSize (default 256 KiB) is refused naming the queue, its size and the limit, through emu.queue and a binding (§limits/4)", async () => {
    const body = { id: uid("big"), pad: "x".repeat(limit) };
    const size = JSON.stringify(body).length;
    const expected = `queue "jobs": message 1 is ${size.toLocaleString("en")} bytes; the queue's maxMessageSize is 262,144. Store large payloads in a bucket and send the key.`;
    await expect(emu.queue("jobs").send(body)).rejects.toMatchObject({
      code: "NIMBUS_QUEUE_MESSAGE_TOO_LARGE",
      message: expected,
    });

    const response = await emu.fetch("/send", { method: "POST", body: JSON.stringify(body) });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: { code: "NIMBUS_QUEUE_MESSAGE_TOO_LARGE", message: expected } });
    expect(stats("jobs")).toEqual(zero);
  });

  it("send: a body of exactly maxMessageSize is accepted, one byte more is refused (§limits/4)", async () => {
    await emu.queue("raw").send(new Uint8Array(1024));
    await expect(emu.queue("raw").send(new Uint8Array(1025))).rejects.toMatchObject({
      code: "NIMBUS_QUEUE_MESSAGE_TOO_LARGE",
      message: expect.stringMatching(/^queue "raw": message 1 is 1,025 bytes; the queue's maxMessageSize is 1,024\./),
    });
    await emu.idle();
    expect((await echoed()).map((e) => (e.body as number[]).length)).toEqual([1024]);
  });

  it("send: a JSON body's size is the UTF-8 length of its JSON text (§limits/2)", async () => {
    // "é" is two bytes: 511 of them and two quotes make 1,024 bytes from a 513-character text.
    await emu.queue("raw").send("é".repeat(511));
    await expect(emu.queue("raw").send("é".repeat(512))).rejects.toMatchObject({
      message: expect.stringMatching(/^queue "raw": message 1 is 1,026 bytes;/),
    });
    await emu.idle();
    expect((await echoed()).map((e) => e.body)).toEqual(["é".repeat(511)]);
  });

  it("sendBatch: takes 100 messages and refuses 101, storing none of them (§limits/6-7)", async () => {
    const batch = (n: number) =>
      Array.from({ length: n }, () => ({ body: { id: uid("many"), action: "leave" as const } }));
    const refused = `queue "jobs": sendBatch takes at most 100 messages; found 101. Send in batches of 100.`;
    await expect(emu.queue("jobs").sendBatch(batch(101))).rejects.toMatchObject({
      code: "NIMBUS_QUEUE_BATCH",
      message: refused,
    });
    const response = await emu.fetch("/send-batch", {
      method: "POST",
      body: JSON.stringify(batch(101).map((m) => m.body)),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: { code: "NIMBUS_QUEUE_BATCH", message: refused } });
    expect(stats("jobs")).toEqual(zero);

    await emu.queue("jobs").sendBatch(batch(100));
    await emu.idle();
    const { objects } = await emu.bucket("results").list({ prefix: "deliveries/" });
    expect(objects).toHaveLength(100);
  });

  it("sendBatch: one message too large refuses the whole batch (§limits/7)", async () => {
    const ok = uid("ok");
    await expect(
      emu.queue("jobs").sendBatch([{ body: { id: ok } }, { body: { id: uid("big"), pad: "x".repeat(limit) } }]),
    ).rejects.toMatchObject({ message: expect.stringMatching(/^queue "jobs": message 2 is /) });
    await emu.idle();
    expect(await deliveries(ok)).toEqual([]);
    expect(stats("jobs")).toEqual(zero);
  });

  it("send: a body with no JSON form fails with a rejected promise and NIMBUS_QUEUE_BODY, saying why (§limits/3)", async () => {
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    const cases: [string, unknown, RegExp][] = [
      [
        "a function",
        () => 1,
        /^queue "raw": message 1 is function, which has no JSON form\. Send JSON-serialisable data or bytes\.$/,
      ],
      ["undefined", undefined, /^queue "raw": message 1 is undefined, which has no JSON form/],
      ["a symbol", Symbol("s"), /^queue "raw": message 1 is symbol, which has no JSON form/],
      ["a BigInt", 10n, /^queue "raw": message 1 cannot be sent as JSON: .*BigInt/],
      ["a cycle", circular, /^queue "raw": message 1 cannot be sent as JSON: .*circular/i],
    ];
    for (const [what, body, message] of cases) {
      const { how, error } = await outcome(() => emu.queue("raw").send(body));
      expect({ how, code: error?.code, message: error?.message }, what).toMatchObject({
        how: "rejected",
        code: "NIMBUS_QUEUE_BODY",
        message: expect.stringMatching(message),
      });
    }
    const batch = await outcome(() => emu.queue("raw").sendBatch([{ body: 1 }, { body: () => 1 }]));
    expect({ how: batch.how, message: batch.error?.message }).toMatchObject({
      how: "rejected",
      message: expect.stringMatching(/^queue "raw": message 2 is function/),
    });
    expect(stats("raw")).toEqual(zero);
  });

  it("send: bytes round-trip as a Uint8Array (a view's own range, an ArrayBuffer), JSON as JSON (§delivery/6, §limits/2)", async () => {
    const backing = new Uint8Array([9, 9, 0, 1, 127, 128, 255, 9]);
    await emu.queue("raw").send(backing.subarray(2, 7));
    await emu.queue("raw").send(new Uint8Array([1, 2, 3]).buffer);
    await emu.queue("raw").send("plain text");
    await emu.queue("raw").send(null);
    await emu.idle();
    const got = (await echoed()).map(({ type, body }) => ({ type, body }));
    expect(got).toHaveLength(4);
    expect(got).toEqual(
      expect.arrayContaining([
        { type: "Uint8Array", body: [0, 1, 127, 128, 255] },
        { type: "Uint8Array", body: [1, 2, 3] },
        { type: "string", body: "plain text" },
        { type: "object", body: null },
      ]),
    );
  });

  it("send: a queue's schema refuses a JSON body that does not match; bytes are not checked (§limits/5)", async () => {
    await emu.queue("typed").send({ id: "fine" });
    await expect(emu.queue("typed").send({ id: 1 })).rejects.toMatchObject({
      code: "NIMBUS_QUEUE_SCHEMA",
      message: expect.stringMatching(/^queue "typed": message 1 does not match the queue's schema \(id: /),
    });
    await emu.queue("typed").send(new Uint8Array([1, 2]));
    expect(stats("typed")).toEqual({ ...zero, depth: 2 });
  });

  it("queue: an unknown queue fails naming the app's queues", () => {
    expect(() => emu.queue("nope")).toThrow(
      'The app has no queue "nope" (its queues: "batched", "brief", "fleeting", "held", "jobs", "jobs-dlq", "once", "once-dlq", "raw", "slow", "typed").',
    );
  });
});

describe("queues: retention", () => {
  it("retention: a message is dropped once retention has passed since its first send, delayed or not, and the drop is logged (§retention/1)", async () => {
    const [delayed, parked] = [uid("too-late"), uid("parked")];
    const mark = emu.logs.length;
    // `brief` keeps messages one minute; this one would be deliverable only after two.
    await emu.queue("brief").send({ id: delayed }, { delay: "2m" });
    await emu.queue("typed").send({ id: parked });
    await emu.clock.advance(59_999);
    expect(stats("brief")).toEqual({ ...zero, delayed: 1 });
    await emu.clock.advance(1);
    expect(stats("brief")).toEqual(zero);
    expect(loggedSince(mark, /^queue brief: dropped 1 message\(s\) older than its retention$/)).toHaveLength(1);
    await emu.clock.advance("2m");
    expect(await deliveries(delayed, "brief")).toEqual([]);

    // `typed` keeps them the default 4 days, also without a consumer.
    await emu.clock.advance(4 * 86_400_000 - 180_001);
    expect(stats("typed")).toEqual({ ...zero, depth: 1 });
    await emu.clock.advance(1);
    expect(stats("typed")).toEqual(zero);
  });

  it("retention: a message in flight is dropped too, and the late outcome of its delivery is ignored (§retention/1)", async () => {
    const id = uid("fleeting");
    const mark = emu.logs.length;
    await emu.queue("fleeting").send({ id });
    expect(stats("fleeting")).toEqual({ ...zero, inFlight: 1 });
    await emu.clock.advance("1m");
    expect(stats("fleeting")).toEqual(zero);
    expect(loggedSince(mark, /^queue fleeting: dropped 1 message\(s\) older than its retention$/)).toHaveLength(1);

    await emu.invoke("gated", `/open?id=${id}`, { method: "POST" });
    await emu.idle();
    await emu.clock.advance("5m");
    expect(stats("fleeting")).toEqual(zero);
    const { objects } = await emu.bucket("results").list({ prefix: `gated/${id}/` });
    expect(objects.map((o) => o.key)).toEqual([`gated/${id}/1`]);
  });

  it("retention: in a dead-letter queue it counts from the first send to the queue the message died in (§retention/2)", async () => {
    const id = uid("old");
    const sentAt = emu.clock.now();
    await emu.queue("jobs").send({ id, action: "throw" });
    await emu.idle();
    await emu.clock.advance("1m");
    expect(stats("jobs-dlq")).toEqual({ ...zero, depth: 1 });
    await emu.clock.advance(sentAt + 4 * 86_400_000 - 1 - emu.clock.now());
    expect(stats("jobs-dlq")).toEqual({ ...zero, depth: 1 });
    await emu.clock.advance(1);
    expect(stats("jobs-dlq")).toEqual(zero);
  });
});

describe("emu.idle", () => {
  it("idle: waits for a running delivery (§clock/3)", async () => {
    const id = uid("slowly");
    await emu.queue("jobs").send({ id, action: "slow", ms: 300 });
    expect(stats("jobs")).toEqual({ ...zero, inFlight: 1 });
    await emu.idle();
    expect(await deliveries(id)).toEqual([1]);
    expect(stats("jobs")).toEqual(zero);
  });

  it("idle: resolves while delayed messages, back-offs and a partial batch wait, without delivering them (§clock/1, §clock/3)", async () => {
    const [delayed, retried, partial] = [uid("delayed"), uid("retried"), uid("partial")];
    await emu.queue("jobs").send({ id: delayed }, { delay: "1h" });
    await emu.queue("jobs").send({ id: retried, action: "retry" });
    await emu.queue("batched").send({ id: partial });
    const before = emu.clock.now();
    await emu.idle();
    expect(emu.clock.now()).toBe(before);
    expect(await deliveries(delayed)).toEqual([]);
    expect(await deliveries(retried)).toEqual([1]);
    expect(await batches()).toEqual([]);
    expect(stats("jobs")).toEqual({ ...zero, delayed: 2 });
    expect(stats("batched")).toEqual({ ...zero, depth: 1 });
  });
});

describe("queues: durability", () => {
  interface Seeded {
    acked: string;
    partial: string;
    delayed: string;
    retried: string;
    dead: string;
  }

  /** An acked message, a partial batch waiting, a delayed message, a retried one and a dead-lettered one. */
  async function seed(emulator: Emulator): Promise<Seeded> {
    const ids = {
      acked: uid("acked"),
      partial: uid("partial"),
      delayed: uid("delayed"),
      retried: uid("retried"),
      dead: uid("dead"),
    };
    await emulator.queue("jobs").send({ id: ids.acked });
    await emulator.queue("batched").send({ id: ids.partial });
    await emulator.queue("jobs").send({ id: ids.delayed }, { delay: "1h" });
    await emulator.queue("jobs").send({ id: ids.retried, action: "fail-once" });
    await emulator.queue("once").send({ id: ids.dead, action: "throw" });
    await emulator.idle();
    return ids;
  }

  function expectSeeded(emulator: Emulator): void {
    expect(emulator.queue("batched").stats()).toEqual({ ...zero, depth: 1 });
    expect(emulator.queue("jobs").stats()).toEqual({ ...zero, delayed: 2 });
    expect(emulator.queue("once").stats()).toEqual({ ...zero, deadLettered: 1 });
    expect(emulator.queue("once-dlq").stats()).toEqual({ ...zero, depth: 1 });
  }

  /** After the hour: each came once more, as what it was (the retried one as its second attempt), the acked one never. */
  async function expectDelivered(emulator: Emulator, ids: Seeded): Promise<void> {
    const results = emulator.bucket("results");
    const keys = async (prefix: string) => (await results.list({ prefix })).objects.map((o) => o.key);
    expect(await keys(`deliveries/${ids.acked}/`)).toEqual([`deliveries/${ids.acked}/1`]);
    expect(await keys(`batches/${ids.partial}`)).toEqual([`batches/${ids.partial}`]);
    expect(await keys(`deliveries/${ids.delayed}/`)).toEqual([`deliveries/${ids.delayed}/1`]);
    expect(await keys(`deliveries/${ids.retried}/`)).toEqual([
      `deliveries/${ids.retried}/1`,
      `deliveries/${ids.retried}/2`,
    ]);
    const record = async (attempt: number) =>
      JSON.parse(await (await results.get(`deliveries/${ids.retried}/${attempt}`))!.text()) as Delivery;
    const [first, second] = [await record(1), await record(2)];
    expect({ messageId: second.messageId, timestamp: second.timestamp }).toEqual({
      messageId: first.messageId,
      timestamp: first.timestamp,
    });
    expect(emulator.queue("once-dlq").stats()).toEqual({ ...zero, depth: 1 });
    expect(emulator.queue("jobs").stats()).toEqual(zero);
    expect(emulator.queue("batched").stats()).toEqual(zero);
  }

  it("reload: waiting, delayed, retried and dead-lettered messages stay; acked ones do not come back (§durability/1, §success/2)", async () => {
    const ids = await seed(emu);
    expectSeeded(emu);
    await emu.reload();
    expectSeeded(emu);
    await emu.clock.advance("1h");
    await expectDelivered(emu, ids);
  });

  it("restart: waiting, delayed, retried and dead-lettered messages stay in the state folder; acked ones do not come back (§durability/1, §success/2)", async () => {
    const state = await mkdtemp(join(tmpdir(), "nimbus-queues-"));
    try {
      let ids: Seeded;
      {
        await using first = await createEmulator({ root, state, watch: false, clock: "manual" });
        ids = await seed(first);
        expectSeeded(first);
      }
      await using second = await createEmulator({ root, state, watch: false, clock: "manual" });
      expectSeeded(second);
      await second.clock.advance("1h");
      await expectDelivered(second, ids);
      expect(second.queue("once-dlq").redrive()).toEqual({ once: 1 });
      await second.idle();
      expect(second.queue("once").stats()).toEqual({ ...zero, deadLettered: 1 });
    } finally {
      await rm(state, { recursive: true, force: true });
    }
  }, 30_000);

  it("reload: new settings keep the messages and apply from the next failure (§durability/4)", async () => {
    const id = uid("resettled");
    await emu.queue("jobs").send({ id, action: "fail-unless-fixed" });
    await emu.idle();
    expect(stats("jobs")).toEqual({ ...zero, delayed: 1 });

    const restore = await editApp(emu, root, (source) =>
      source.replace(
        'delivery: { maxAttempts: 3, backoff: { initial: "10s", max: "1m" } }',
        'delivery: { maxAttempts: 2, backoff: { initial: "10s", max: "1m" } }',
      ),
    );
    try {
      expect(stats("jobs")).toEqual({ ...zero, delayed: 1 });
      // The second delivery fails too; with maxAttempts now 2 it is the last.
      await emu.clock.advance("10s");
      expect(await deliveries(id)).toEqual([1, 2]);
      expect(stats("jobs")).toEqual({ ...zero, deadLettered: 1 });
    } finally {
      await restore();
    }
  });

  it("reset: the queues stay durable: a message sent after a reset survives a restart (§durability/1)", async () => {
    const state = await mkdtemp(join(tmpdir(), "nimbus-queues-"));
    try {
      {
        await using first = await createEmulator({ root, state, watch: false, clock: "manual" });
        await first.reset();
        await first.queue("typed").send({ id: "after-reset" });
        expect(first.queue("typed").stats()).toEqual({ ...zero, depth: 1 });
      }
      await using second = await createEmulator({ root, state, watch: false, clock: "manual" });
      expect(second.queue("typed").stats()).toEqual({ ...zero, depth: 1 });
    } finally {
      await rm(state, { recursive: true, force: true });
    }
  }, 30_000);

  it("reset: empties every queue; a partial batch sent after it waits its full maxBatchWait", async () => {
    await emu.queue("batched").send({ id: uid("old") });
    await emu.queue("jobs").send({ id: uid("old") }, { delay: "1h" });
    await emu.clock.advance("19s");
    await emu.reset();
    expect(stats("batched")).toEqual(zero);
    expect(stats("jobs")).toEqual(zero);

    const id = uid("new");
    await emu.queue("batched").send({ id });
    await emu.idle();
    await emu.clock.advance(19_999);
    expect(await batches()).toEqual([]);
    await emu.clock.advance(1);
    expect(await batches()).toEqual([[id]]);
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
    const current = async () =>
      (await (await fetch(`${dev.ready.url}/_nimbus/queues`)).json()) as Record<string, typeof zero>;
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
    expect(table.stdout).toBe(
      [
        "queue     depth  in flight  delayed  dead-lettered",
        "batched       0          0        0              0",
        "brief         0          0        0              0",
        "fleeting      0          0        0              0",
        "held          0          0        0              0",
        "jobs          0          0        0              0",
        "jobs-dlq      0          0        0              0",
        "once          0          0        0              1",
        "once-dlq      1          0        0              0",
        "raw           0          0        0              0",
        "slow          0          0        0              0",
        "typed         0          0        0              0",
        "",
      ].join("\n"),
    );

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
    expect(unknown.stderr).toBe(
      '✖ The app has no queue "nope" (its queues: "batched", "brief", "fleeting", "held", "jobs", "jobs-dlq", "once", "once-dlq", "raw", "slow", "typed").\n',
    );
    const notJson = runCli(["send", copy.dir, "jobs", "{id:1}"]);
    expect(notJson.status).toBe(1);
    expect(notJson.stderr).toMatch(/^✖ The message must be JSON \(quote it for your shell/);
  }, 60_000);
});
