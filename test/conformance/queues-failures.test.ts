// docs/semantics.md "Queues": what happens after a retry, a throw, a timeout, a crash or an
// expired visibility timeout, dead letters and redrive, on every target.
import { isDeepStrictEqual as equal } from "node:util";
import { expect } from "vitest";
import { uniqueNames, noMessages as zero } from "../support/suite.ts";
import { conformance, type DeployedApp, editApp, fixture } from "./conformance.ts";
import { deliveredAt, deliveries, delivery, echoed, gatedKeys, open } from "./queues-records.ts";
import { early, expectAbout, late, sleep, waitFor } from "./real-time.ts";

const uid = uniqueNames();
/** The real forms' copy of `jobs`: back-off 1 s (then 1–2 s), consumed by `rtf-worker` (timeout 2 s). */
const rtf = "rtf-jobs";

/** Waits until `rtf-worker` began delivery `attempt` of message `id` from `queue`. */
const arrived = (app: DeployedApp, id: string, attempt: number, queue = rtf) =>
  waitFor(`delivery ${attempt} of ${id} from ${queue}`, async () =>
    (await deliveries(app, id, queue)).includes(attempt),
  );

/** Ms between the starts of deliveries `from` and `to` of message `id`, as `rtf-worker` recorded them. */
const gap = async (app: DeployedApp, id: string, from: number, to: number, queue = rtf) =>
  (await deliveredAt(app, id, to, queue)) - (await deliveredAt(app, id, from, queue));

conformance("queues: settling and retries", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();

  t.test(
    "§queues/redelivery/2 retry: redelivers after the back-off: exactly initial the first time, then within [initial, 2 × initial]",
    {
      manual: async () => {
        const id = uid("retry");
        await t.app.queue("jobs").send({ id, action: "retry" });
        await t.app.idle();
        expect(await deliveries(t.app, id)).toEqual([1]);
        expect(await stats("jobs")).toEqual({ ...zero, delayed: 1 });

        // b = min(1m, 10s × 2⁰) = 10s; uniform in [max(10s, 5s), 10s]: exactly 10 s.
        await t.app.advance(9_999);
        expect(await deliveries(t.app, id)).toEqual([1]);
        await t.app.advance(1);
        expect(await deliveries(t.app, id)).toEqual([1, 2]);

        // b = 20s; uniform in [max(10s, 10s), 20s].
        await t.app.advance(9_999);
        expect(await deliveries(t.app, id)).toEqual([1, 2]);
        await t.app.advance(10_001);
        expect(await deliveries(t.app, id)).toEqual([1, 2, 3]);
      },
      real: async () => {
        const id = uid("retry");
        await t.app.queue(rtf).send({ id, action: "retry" });
        await arrived(t.app, id, 3);
        // b = min(2s, 1s × 2⁰) = 1s: exactly 1 s; then b = 2s, uniform in [max(1s, 1s), 2s].
        expectAbout("back-off before delivery 2", await gap(t.app, id, 1, 2), 1_000);
        expectAbout("back-off before delivery 3", await gap(t.app, id, 2, 3), 1_000, late + 1_000);
      },
    },
  );

  t.test(
    "§queues/redelivery/3-4 retry: with a delay waits exactly that long; a retry counts as a delivery towards maxAttempts",
    {
      manual: async () => {
        const id = uid("later");
        await t.app.queue("jobs").send({ id, action: "retry-later" });
        await t.app.idle();
        expect(await deliveries(t.app, id)).toEqual([1]);
        await t.app.advance(4_999);
        expect(await deliveries(t.app, id)).toEqual([1]);
        expect(await stats("jobs")).toEqual({ ...zero, delayed: 1 });
        await t.app.advance(1);
        expect(await deliveries(t.app, id)).toEqual([1, 2]);
        await t.app.advance(5_000);
        expect(await deliveries(t.app, id)).toEqual([1, 2, 3]);
        expect(await stats("jobs")).toEqual({ ...zero, deadLettered: 1 });
        const [dead] = await t.app.queue("jobs-dlq").deadLettered();
        expect(dead).toMatchObject({ queue: "jobs", attempts: 3, lastError: "retried by the consumer" });
      },
      real: async () => {
        const id = uid("later");
        await t.app.queue(rtf).send({ id, action: "retry-later", ms: 2_000 });
        await waitFor("the dead letter", async () => (await stats(rtf)).deadLettered === 1);
        expect(await deliveries(t.app, id, rtf)).toEqual([1, 2, 3]);
        // The delay (2 s), not the back-off (1 s), each time.
        expectAbout("delay before delivery 2", await gap(t.app, id, 1, 2), 2_000);
        expectAbout("delay before delivery 3", await gap(t.app, id, 2, 3), 2_000);
        expect(await stats(rtf)).toEqual({ ...zero, deadLettered: 1 });
        const [dead] = await t.app.queue(`${rtf}-dlq`).deadLettered();
        expect(dead).toMatchObject({ queue: rtf, attempts: 3, lastError: "retried by the consumer" });
      },
    },
  );

  t.test("§queues/redelivery/3 retry: a delay of 0 makes the message deliverable again at once", async () => {
    const id = uid("now");
    await t.app.queue("jobs").send({ id, action: "retry-now" });
    await t.app.idle();
    expect(await deliveries(t.app, id)).toEqual([1, 2, 3]);
    expect(await stats("jobs")).toEqual({ ...zero, deadLettered: 1 });
  });

  t.test(
    "§queues/redelivery/3 retryAll: retries every message of the batch after exactly its delay; the last call for a message wins",
    {
      manual: async () => {
        const [acked, all] = [uid("acked-first"), uid("retry-all")];
        await t.app.queue("jobs").sendBatch([{ body: { id: acked } }, { body: { id: all, action: "retry-all" } }]);
        await t.app.idle();
        expect(await stats("jobs")).toEqual({ ...zero, delayed: 2 });
        await t.app.advance(6_999);
        expect(await deliveries(t.app, acked)).toEqual([1]);
        await t.app.advance(1);
        expect(await deliveries(t.app, acked)).toEqual([1, 2]);
        expect(await deliveries(t.app, all)).toEqual([1, 2]);
      },
      real: async () => {
        const [acked, all] = [uid("acked-first"), uid("retry-all")];
        await t.app
          .queue(rtf)
          .sendBatch([{ body: { id: acked } }, { body: { id: all, action: "retry-all", ms: 2_000 } }]);
        await arrived(t.app, acked, 2);
        await arrived(t.app, all, 2);
        expect((await delivery(t.app, acked, 1, rtf)).batch).toEqual([acked, all]);
        // The delay (2 s), not the back-off (1 s), for both.
        expectAbout("delay before the acked one's delivery 2", await gap(t.app, acked, 1, 2), 2_000);
        expectAbout("delay before delivery 2", await gap(t.app, all, 1, 2), 2_000);
      },
    },
  );

  t.test("§queues/success/1 ack, retry: for one message the last call wins", {
    manual: async () => {
      const [acked, retried] = [uid("retry-then-ack"), uid("ack-then-retry")];
      await t.app
        .queue("jobs")
        .sendBatch([
          { body: { id: acked, action: "retry-then-ack" } },
          { body: { id: retried, action: "ack-then-retry" } },
        ]);
      await t.app.idle();
      expect(await stats("jobs")).toEqual({ ...zero, delayed: 1 });
      await t.app.advance("5s");
      expect(await deliveries(t.app, acked)).toEqual([1]);
      expect(await deliveries(t.app, retried)).toEqual([1, 2]);
    },
    real: async () => {
      const [acked, retried] = [uid("retry-then-ack"), uid("ack-then-retry")];
      await t.app
        .queue(rtf)
        .sendBatch([
          { body: { id: acked, action: "retry-then-ack" } },
          { body: { id: retried, action: "ack-then-retry", ms: 2_000 } },
        ]);
      await arrived(t.app, retried, 2);
      expectAbout("delay before delivery 2", await gap(t.app, retried, 1, 2), 2_000);
      // Retried, the other would have come back after the 1 s back-off, before this one.
      expect(await deliveries(t.app, acked, rtf)).toEqual([1]);
    },
  });
});

conformance("queues: a thrown error, a timeout, a crash", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();

  t.test(
    "§queues/thrown/1-2 queue handler: a throw keeps what was settled and retries the unsettled messages with the error as last error",
    {
      manual: async () => {
        const [acked, later, failing, unsettled] = [uid("acked"), uid("later"), uid("throws"), uid("unsettled")];
        await t.app
          .queue("jobs")
          .sendBatch([
            { body: { id: acked } },
            { body: { id: later, action: "retry-later" } },
            { body: { id: failing, action: "fail-once" } },
            { body: { id: unsettled } },
          ]);
        await t.app.idle();
        expect((await delivery(t.app, acked, 1)).batch).toEqual([acked, later, failing, unsettled]);
        expect(await stats("jobs")).toEqual({ ...zero, delayed: 3 });

        // The retried one keeps its own delay (5 s), the unsettled ones get the back-off (10 s).
        await t.app.advance("5s");
        expect(await deliveries(t.app, later)).toEqual([1, 2]);
        expect(await deliveries(t.app, failing)).toEqual([1]);
        await t.app.advance("5s");
        expect(await deliveries(t.app, acked)).toEqual([1]);
        expect(await deliveries(t.app, failing)).toEqual([1, 2]);
        expect(await deliveries(t.app, unsettled)).toEqual([1, 2]);
        // `later` is retried every 5 s: its third delivery is due now too, and as the oldest it comes first.
        expect((await delivery(t.app, failing, 2)).batch).toEqual([later, failing, unsettled]);
      },
      real: async () => {
        const [acked, later, failing, unsettled] = [uid("acked"), uid("later"), uid("throws"), uid("unsettled")];
        await t.app
          .queue(rtf)
          .sendBatch([
            { body: { id: acked } },
            { body: { id: later, action: "retry-later", ms: 2_000 } },
            { body: { id: failing, action: "fail-once" } },
            { body: { id: unsettled } },
          ]);
        await arrived(t.app, later, 2);
        await arrived(t.app, failing, 2);
        await arrived(t.app, unsettled, 2);
        expect((await delivery(t.app, acked, 1, rtf)).batch).toEqual([acked, later, failing, unsettled]);
        // The retried one keeps its own delay (2 s), the unsettled ones get the back-off (1 s).
        expectAbout("the retried one's delay", await gap(t.app, later, 1, 2), 2_000);
        expectAbout("the thrower's back-off", await gap(t.app, failing, 1, 2), 1_000);
        expectAbout("the unsettled one's back-off", await gap(t.app, unsettled, 1, 2), 1_000);
        expect(await deliveries(t.app, acked, rtf)).toEqual([1]);
      },
    },
  );

  t.test(
    "§queues/thrown/2 queue handler: a message left unsettled by a throw carries the error's message as its last error",
    async () => {
      const id = uid("thrown");
      await t.app.queue("once").send({ id, action: "throw" });
      await t.app.idle();
      const [dead] = await t.app.queue("once-dlq").deadLettered();
      expect(dead).toMatchObject({
        queue: "once",
        attempts: 1,
        lastError: expect.stringContaining(`job ${id} failed`),
      });
    },
  );

  t.test(
    "§queues/thrown/1 §queues/thrown/3 queue handler: a throw after ackAll() loses nothing; it never affects another batch",
    {
      manual: async () => {
        const [first, thrower, next] = [uid("ack-all"), uid("thrower"), uid("next")];
        await t.app
          .queue("jobs")
          .sendBatch([{ body: { id: first, action: "ack-all" } }, { body: { id: thrower, action: "throw" } }]);
        // Sent while that batch runs: it comes in the next batch, which the throw does not touch.
        await t.app.queue("jobs").send({ id: next });
        await t.app.idle();
        expect(await delivery(t.app, next, 1)).toMatchObject({ batch: [next] });
        expect(await stats("jobs")).toEqual(zero);
        await t.app.advance("1h");
        for (const id of [first, thrower, next]) expect(await deliveries(t.app, id), id).toEqual([1]);
      },
      real: async () => {
        const [first, thrower, next] = [uid("ack-all"), uid("thrower"), uid("next")];
        await t.app
          .queue(rtf)
          .sendBatch([{ body: { id: first, action: "ack-all" } }, { body: { id: thrower, action: "throw" } }]);
        // Sent once that batch runs: it comes in the next batch, which the throw does not touch.
        await arrived(t.app, first, 1);
        await t.app.queue(rtf).send({ id: next });
        await t.app.idle();
        expect(await delivery(t.app, next, 1, rtf)).toMatchObject({ batch: [next] });
        expect(await stats(rtf)).toEqual(zero);
        // Nothing can be due later than a first retry's back-off (1 s): wait it out.
        await sleep(1_000 + late);
        for (const id of [first, thrower, next]) expect(await deliveries(t.app, id, rtf), id).toEqual([1]);
      },
    },
  );

  t.test(
    "§queues/timeout/1-3 queue handler: a timeout on real time fails the batch, aborts ctx.signal, stops a run that ignores it, and delivery goes on",
    {
      manual: async () => {
        const [aborted, hung] = [uid("abort"), uid("hang")];
        const before = await t.app.now();
        await t.app
          .queue("jobs")
          .sendBatch([{ body: { id: aborted, action: "abort-once" } }, { body: { id: hung, action: "hang-once" } }]);
        // The worker's timeout (5 s) is real time: idle() waits for the run to be cut off, the clock stands still.
        await t.app.idle();
        expect(await t.app.now()).toBe(before);
        expect(await stats("jobs")).toEqual({ ...zero, delayed: 2 });
        // The handler saw its signal abort, went on to the message that hangs, and was stopped.
        expect(await (await t.app.bucket("results").get(`aborted/${aborted}`))?.text()).toBe("TimeoutError");

        const next = uid("after-timeout");
        await t.app.queue("jobs").send({ id: next });
        await t.app.idle();
        expect(await deliveries(t.app, next)).toEqual([1]);

        await t.app.advance("10s");
        expect(await deliveries(t.app, aborted)).toEqual([1, 2]);
        expect(await deliveries(t.app, hung)).toEqual([1, 2]);
        expect(await stats("jobs")).toEqual(zero);
      },
      real: async () => {
        const [aborted, hung] = [uid("abort"), uid("hang")];
        await t.app
          .queue(rtf)
          .sendBatch([{ body: { id: aborted, action: "abort-once" } }, { body: { id: hung, action: "hang-once" } }]);
        // The handler saw its signal abort at the timeout (2 s), went on to the message that hangs, and was stopped.
        const reason = await waitFor("the abort", async () =>
          (await t.app.bucket("results").get(`aborted/${aborted}`))?.text(),
        );
        expect(reason).toBe("TimeoutError");

        const next = uid("after-timeout");
        await t.app.queue(rtf).send({ id: next });
        await arrived(t.app, next, 1);

        await arrived(t.app, aborted, 2);
        await arrived(t.app, hung, 2);
        // The 2 s timeout, then the 1 s back-off.
        expectAbout("the timeout and back-off before delivery 2", await gap(t.app, aborted, 1, 2), 3_000);
        expectAbout("the timeout and back-off before delivery 2", await gap(t.app, hung, 1, 2), 3_000);
        await waitFor("an empty queue", async () => equal(await stats(rtf), zero));
        expect(await deliveries(t.app, next, rtf)).toEqual([1]);
      },
    },
    { timeout: 20_000 },
  );

  t.test(
    "§queues/timeout/1 queue handler: a timed-out message's last error is `timed out after <timeout>`",
    async () => {
      // `once` goes to `worker` (timeout 5s) with one attempt: the timeout dead-letters it at once.
      const id = uid("hang");
      await t.app.queue("once").send({ id, action: "hang" });
      await t.app.idle();
      const [dead] = await t.app.queue("once-dlq").deadLettered();
      expect(dead).toMatchObject({ queue: "once", attempts: 1, lastError: "timed out after 5s" });
    },
    { timeout: 20_000 },
  );

  t.test(
    "§queues/crash/1-2 queue handler: a crash (process.exit) retries every message of the batch, acked ones too; delivery goes on",
    {
      manual: async () => {
        const [acked, crash, after] = [uid("acked"), uid("exit"), uid("after")];
        await t.app
          .queue("jobs")
          .sendBatch([{ body: { id: acked } }, { body: { id: crash, action: "exit-once" } }, { body: { id: after } }]);
        await t.app.idle();
        expect(await stats("jobs")).toEqual({ ...zero, delayed: 3 });

        const response = await t.app.fetch("/send", { method: "POST", body: JSON.stringify({ id: uid("alive") }) });
        expect(response.status).toBe(202);
        await t.app.idle();

        await t.app.advance("10s");
        for (const id of [acked, crash, after]) expect(await deliveries(t.app, id), id).toEqual([1, 2]);
        expect(await stats("jobs")).toEqual(zero);
      },
      real: async () => {
        const [acked, crash, after] = [uid("acked"), uid("exit"), uid("after")];
        await t.app
          .queue(rtf)
          .sendBatch([{ body: { id: acked } }, { body: { id: crash, action: "exit-once" } }, { body: { id: after } }]);
        await arrived(t.app, crash, 1);

        const response = await t.app.fetch("/send", { method: "POST", body: JSON.stringify({ id: uid("alive") }) });
        expect(response.status).toBe(202);

        for (const id of [acked, crash, after]) await arrived(t.app, id, 2);
        for (const id of [acked, crash, after]) {
          // Not before the back-off; later where the crashed host takes longer to come back.
          expect(await gap(t.app, id, 1, 2), id).toBeGreaterThanOrEqual(1_000 - early);
        }
        await waitFor("an empty queue", async () => equal(await stats(rtf), zero));
        for (const id of [acked, crash, after]) expect(await deliveries(t.app, id, rtf), id).toEqual([1, 2]);
      },
    },
  );

  t.test("§queues/crash/2 queue handler: a crashed message's last error names the exit", async () => {
    const id = uid("exit");
    await t.app.queue("once").send({ id, action: "exit" });
    await t.app.idle();
    const [dead] = await t.app.queue("once-dlq").deadLettered();
    expect(dead).toMatchObject({
      queue: "once",
      attempts: 1,
      lastError: expect.stringMatching(/exit.*code 3|code 3.*exit/),
    });
  });

  t.test("§queues/crash/1 queue handler: an error thrown outside the handler is a crash: the batch is retried", {
    manual: async () => {
      const id = uid("uncaught");
      await t.app.queue("jobs").send({ id, action: "uncaught-once" });
      await t.app.idle();
      expect(await stats("jobs")).toEqual({ ...zero, delayed: 1 });
      await t.app.advance("10s");
      expect(await deliveries(t.app, id)).toEqual([1, 2]);
      expect(await stats("jobs")).toEqual(zero);
    },
    real: async () => {
      const id = uid("uncaught");
      await t.app.queue(rtf).send({ id, action: "uncaught-once" });
      await arrived(t.app, id, 2);
      // A deployed host cannot tell which run threw: the run fails by its timeout (2 s)
      // first (docs/deployed-runtime.md, Crashes), then waits the back-off (1 s).
      expectAbout("back-off before delivery 2", await gap(t.app, id, 1, 2), 1_000, late + 2_000);
      await waitFor("an empty queue", async () => equal(await stats(rtf), zero));
      expect(await deliveries(t.app, id, rtf)).toEqual([1, 2]);
    },
  });

  t.test("§queues/crash/3 queue handler: a crash fails the other batches running in the same worker too", async () => {
    const [running, crash] = [uid("running"), uid("crash")];
    await t.app.queue("jobs").send({ id: running, action: "slow", ms: 2_000 });
    await t.app.queue("once").send({ id: crash, action: "exit" });
    await t.app.idle();
    expect(await deliveries(t.app, running)).toEqual([1]);
    expect(await stats("jobs")).toEqual({ ...zero, delayed: 1 });
    expect(await stats("once")).toEqual({ ...zero, deadLettered: 1 });
  });
});

conformance("queues: visibility timeout", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();

  t.test(
    "§queues/visibility/1-2 visibility timeout: a delivery still running after it counts as failed and is delivered again; the late ack is ignored",
    {
      manual: async () => {
        const id = uid("slow");
        await t.app.queue("slow").send({ id });
        expect(await stats("slow")).toEqual({ ...zero, inFlight: 1 });

        // The handler holds the message until its gate opens; meanwhile its visibility timeout (10 s) passes.
        await t.app.advance("10s");
        expect(await stats("slow")).toEqual({ ...zero, delayed: 1 });

        // The held delivery ends with an ack: too late, the message stays (retried after the 1 s back-off).
        await open(t.app, id);
        await t.app.idle();
        expect(await stats("slow")).toEqual({ ...zero, delayed: 1 });
        await t.app.advance("1s");
        expect(await gatedKeys(t.app, id)).toEqual([`gated/${id}/1`, `gated/${id}/2`]);
        expect(await stats("slow")).toEqual(zero);
      },
      real: async () => {
        const id = uid("slow");
        // Delivery 1 holds its host for 3 s, past its visibility timeout (2 s), then acks: too late.
        await t.app.queue("rtf-slow").send({ id, action: "block-once", ms: 3_000 });
        await arrived(t.app, id, 2, "rtf-slow");
        // Failed once the visibility timeout (2 s) passed, which the host acts on when its
        // run lets go (3 s), then the 1 s back-off.
        expectAbout(
          "visibility timeout and back-off before delivery 2",
          await gap(t.app, id, 1, 2, "rtf-slow"),
          3_000,
          1_000 + late,
        );
        await waitFor("an empty queue", async () => equal(await stats("rtf-slow"), zero));
        expect(await deliveries(t.app, id, "rtf-slow")).toEqual([1, 2]);
      },
    },
  );

  t.test("§queues/visibility/1 visibility timeout: the expired delivery's last error says so", {
    manual: async () => {
      // `stuck` allows one delivery, which `gated` holds past the 10 s visibility timeout.
      const id = uid("never-settled");
      await t.app.queue("stuck").send({ id });
      await t.app.advance("10s");
      expect(await stats("stuck")).toEqual({ ...zero, deadLettered: 1 });
      const [dead] = await t.app.queue("stuck-dlq").deadLettered();
      expect(dead).toMatchObject({
        queue: "stuck",
        attempts: 1,
        lastError: "visibility timeout expired (delivery 1 was not settled within 10s)",
      });
      await open(t.app, id);
    },
    real: async () => {
      // `rtf-stuck` allows one delivery, which holds its host past the 4 s visibility timeout.
      const id = uid("never-settled");
      await t.app.queue("rtf-stuck").send({ id, action: "block-once", ms: 5_000 });
      await waitFor("the dead letter", async () => (await stats("rtf-stuck")).deadLettered === 1);
      expect(await stats("rtf-stuck")).toEqual({ ...zero, deadLettered: 1 });
      const [dead] = await t.app.queue("rtf-stuck-dlq").deadLettered();
      expect(dead).toMatchObject({
        queue: "rtf-stuck",
        attempts: 1,
        lastError: "visibility timeout expired (delivery 1 was not settled within 4s)",
      });
    },
  });
});

conformance("queues: dead letters and redrive", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();

  t.test(
    "§queues/redelivery/4-5 dead letter: after maxAttempts deliveries the message moves to the dead-letter queue with its attempts, first-sent time and last error",
    {
      manual: async () => {
        const id = uid("doomed");
        const sentAt = await t.app.now();
        await t.app.queue("jobs").send({ id, action: "fail-unless-fixed" });
        await t.app.idle();
        // One advance runs the whole chain: 10 s, then 10–20 s, each delivery settled before the next step.
        await t.app.advance("1m");
        expect(await deliveries(t.app, id)).toEqual([1, 2, 3]);
        expect(await stats("jobs")).toEqual({ ...zero, deadLettered: 1 });
        expect(await stats("jobs-dlq")).toEqual({ ...zero, depth: 1 });
        const dead = await t.app.queue("jobs-dlq").deadLettered();
        expect(dead).toEqual([
          {
            id: (await delivery(t.app, id, 3)).messageId,
            body: { id, action: "fail-unless-fixed" },
            queue: "jobs",
            attempts: 3,
            firstSeen: sentAt,
            lastError: expect.stringContaining(`job ${id} is not fixed yet`),
          },
        ]);

        // It stays there: nothing consumes the dead-letter queue.
        await t.app.advance("1h");
        expect(await deliveries(t.app, id)).toEqual([1, 2, 3]);
        expect(await stats("jobs-dlq")).toEqual({ ...zero, depth: 1 });
      },
      real: async () => {
        const id = uid("doomed");
        const before = await t.app.now();
        await t.app.queue(rtf).send({ id, action: "fail-unless-fixed" });
        const after = await t.app.now();
        // 1 s, then 1–2 s.
        await waitFor("the dead letter", async () => (await stats(rtf)).deadLettered === 1);
        expect(await deliveries(t.app, id, rtf)).toEqual([1, 2, 3]);
        expect(await stats(rtf)).toEqual({ ...zero, deadLettered: 1 });
        expect(await stats(`${rtf}-dlq`)).toEqual({ ...zero, depth: 1 });
        const dead = await t.app.queue(`${rtf}-dlq`).deadLettered();
        expect(dead).toEqual([
          {
            id: (await delivery(t.app, id, 3, rtf)).messageId,
            body: { id, action: "fail-unless-fixed" },
            queue: rtf,
            attempts: 3,
            firstSeen: expect.any(Number),
            lastError: expect.stringContaining(`job ${id} is not fixed yet`),
          },
        ]);
        // On a real clock the send lands a moment after `before`: the time is the send's.
        expect(dead[0]!.firstSeen).toBeGreaterThanOrEqual(before);
        expect(dead[0]!.firstSeen).toBeLessThanOrEqual(after);

        // It stays there: nothing consumes the dead-letter queue.
        await sleep(late);
        expect(await deliveries(t.app, id, rtf)).toEqual([1, 2, 3]);
        expect(await stats(`${rtf}-dlq`)).toEqual({ ...zero, depth: 1 });
      },
    },
  );

  t.test(
    "§queues/redelivery/7 redrive: moves dead-lettered messages back, deliverable at once, attempts from 1, id and time kept; direct sends stay",
    {
      manual: async () => {
        const [id, direct] = [uid("redriven"), uid("direct")];
        const sentAt = new Date(await t.app.now()).toISOString();
        await t.app.queue("jobs").send({ id, action: "fail-unless-fixed" });
        await t.app.queue("jobs-dlq").send({ id: direct });
        await t.app.idle();
        await t.app.advance("1m");
        const died = await delivery(t.app, id, 3);
        expect(await stats("jobs-dlq")).toEqual({ ...zero, depth: 2 });

        await t.app.bucket("results").put(`fixed/${id}`, "");
        expect(await t.app.queue("jobs-dlq").redrive()).toEqual({ jobs: 1 });
        const redrivenAt = await t.app.now();
        await t.app.idle();
        const again = await t.app.bucket("results").head(`deliveries/${id}/1`);
        expect(again?.uploaded.getTime()).toBe(redrivenAt);
        expect(await delivery(t.app, id, 1)).toMatchObject({ messageId: died.messageId, timestamp: sentAt });
        expect(await stats("jobs")).toEqual(zero);
        expect(await stats("jobs-dlq")).toEqual({ ...zero, depth: 1 });
        expect(await t.app.queue("jobs-dlq").redrive()).toEqual({});
        expect(await t.app.queue("jobs").redrive()).toEqual({});
      },
      real: async () => {
        const [id, direct] = [uid("redriven"), uid("direct")];
        await t.app.queue(rtf).send({ id, action: "fail-unless-fixed" });
        await t.app.queue(`${rtf}-dlq`).send({ id: direct });
        await waitFor("the dead letter", async () => (await stats(rtf)).deadLettered === 1);
        const died = await delivery(t.app, id, 3, rtf);
        expect(await stats(`${rtf}-dlq`)).toEqual({ ...zero, depth: 2 });

        await t.app.bucket("results").put(`fixed/${id}`, "");
        const redrivenAt = await t.app.now();
        expect(await t.app.queue(`${rtf}-dlq`).redrive()).toEqual({ [rtf]: 1 });
        // Attempt 1 again, recorded anew once the redriven message comes.
        const at = await waitFor("the redriven delivery", async () => {
          const again = await deliveredAt(t.app, id, 1, rtf);
          return again >= redrivenAt - early && again;
        });
        expectAbout("the redriven delivery", at - redrivenAt, 0);
        expect(await delivery(t.app, id, 1, rtf)).toMatchObject({
          messageId: died.messageId,
          timestamp: died.timestamp,
        });
        await waitFor("an empty queue", async () => equal(await stats(rtf), zero));
        expect(await stats(`${rtf}-dlq`)).toEqual({ ...zero, depth: 1 });
        expect(await t.app.queue(`${rtf}-dlq`).redrive()).toEqual({});
        expect(await t.app.queue(rtf).redrive()).toEqual({});
      },
    },
  );

  t.test("§queues/redelivery/4 dead letter: maxAttempts 1 moves a failed message at once", async () => {
    const id = uid("once");
    await t.app.queue("once").send({ id, action: "throw" });
    await t.app.idle();
    expect(await deliveries(t.app, id, "once")).toEqual([1]);
    expect(await stats("once")).toEqual({ ...zero, deadLettered: 1 });
    expect(await stats("once-dlq")).toEqual({ ...zero, depth: 1 });
  });

  t.test(
    "§queues/redelivery/2 §queues/redelivery/6 dead letter: without a dead-letter queue the message is dropped after maxAttempts; back-off 0s retries at once",
    async () => {
      await t.app.queue("raw").send({ throw: true });
      await t.app.idle();
      const got = await echoed(t.app);
      expect(got.map((e) => e.attempts).sort()).toEqual([1, 2, 3]);
      expect(await stats("raw")).toEqual(zero);
    },
  );

  t.test(
    "§queues/delivery/2 §queues/redelivery/5 update: a consumer subscribed to a waiting queue gets its messages; in a dead-letter queue attempts start at 1, id and time kept",
    async () => {
      const id = uid("dead");
      const before = await t.app.now();
      await t.app.queue("once").send({ id, action: "fail-unless-fixed" });
      const after = await t.app.now();
      await t.app.idle();
      expect(await stats("once-dlq")).toEqual({ ...zero, depth: 1 });
      const died = await delivery(t.app, id, 1, "once");
      // On a real clock the send lands a moment after `before`: the time is the send's.
      expect(Date.parse(died.timestamp)).toBeGreaterThanOrEqual(before);
      expect(Date.parse(died.timestamp)).toBeLessThanOrEqual(after);

      await t.app.bucket("results").put(`fixed/${id}`, "");
      const restore = await editApp(t.app, (source) =>
        source.replace("export default app;", "once.deadLetterQueue!.subscribe(worker);\n\nexport default app;"),
      );
      try {
        await t.app.idle();
        expect(await deliveries(t.app, id, "once-dlq")).toEqual([1]);
        expect(await delivery(t.app, id, 1, "once-dlq")).toMatchObject({
          messageId: died.messageId,
          timestamp: died.timestamp,
        });
        expect(await stats("once-dlq")).toEqual(zero);
        expect(await stats("once")).toEqual(zero);
      } finally {
        await restore();
      }
    },
  );
});
