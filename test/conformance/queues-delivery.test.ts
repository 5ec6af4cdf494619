// docs/semantics.md "Queues": delivery, success, ordering, batches and delays, on every
// target, through test/fixtures/queues (its handlers record each delivery in `results`).
import { expect } from "vitest";
import { uniqueNames, noMessages as zero } from "../support/suite.ts";
import { conformance, fixture } from "./conformance.ts";
import { batches, deliveries, delivery, echoed, gatedKeys, keys, open, timed, timedBatches } from "./queues-records.ts";
import { expectAbout, late, sleep, waitFor } from "./real-time.ts";

const uid = uniqueNames();

conformance("queues: delivery and success", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();

  t.test(
    "§queues/success/1-2 queue handler: returning acks ack()ed and unsettled messages alike, and they never come back",
    {
      manual: async () => {
        const [acked, left] = [uid("acked"), uid("left")];
        await t.app.queue("jobs").sendBatch([{ body: { id: acked } }, { body: { id: left, action: "leave" } }]);
        await t.app.idle();
        expect(await deliveries(t.app, acked)).toEqual([1]);
        expect(await deliveries(t.app, left)).toEqual([1]);
        expect(await stats("jobs")).toEqual(zero);

        await t.app.advance("6h");
        expect(await deliveries(t.app, acked)).toEqual([1]);
        expect(await deliveries(t.app, left)).toEqual([1]);
        expect(await stats("jobs")).toEqual(zero);
        expect(await stats("jobs-dlq")).toEqual(zero);
      },
      real: async () => {
        const [acked, left] = [uid("acked"), uid("left")];
        await t.app.queue("rt-jobs").sendBatch([{ body: { id: acked, action: "ack" } }, { body: { id: left } }]);
        await t.app.idle();
        expect((await timed(t.app, acked)).map((d) => d.attempts)).toEqual([1]);
        expect((await timed(t.app, left)).map((d) => d.attempts)).toEqual([1]);
        expect(await stats("rt-jobs")).toEqual(zero);

        // Past `rt-jobs`' visibility timeout (2 s) and back-off (1 s): an unacked message would be back.
        await sleep(4_000);
        expect((await timed(t.app, acked)).map((d) => d.attempts)).toEqual([1]);
        expect((await timed(t.app, left)).map((d) => d.attempts)).toEqual([1]);
        expect(await stats("rt-jobs")).toEqual(zero);
        expect(await stats("rt-jobs-dlq")).toEqual(zero);
      },
    },
  );

  t.test(
    "§queues/delivery/6 queue handler: gets the batch's queue and each message's id, body, attempts and first-sent time",
    {
      manual: async () => {
        const sentAt = await t.app.now();
        await t.app.queue("raw").send({ hello: "world", n: [1, 2] });
        await t.app.idle();
        expect(await echoed(t.app)).toEqual([
          {
            queue: "raw",
            id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
            attempts: 1,
            timestamp: new Date(sentAt).toISOString(),
            type: "object",
            body: { hello: "world", n: [1, 2] },
          },
        ]);
      },
      real: async () => {
        const sentFrom = Date.now();
        await t.app.queue("raw").send({ hello: "world", n: [1, 2] });
        const sentBy = Date.now();
        await t.app.idle();
        const [got] = await echoed(t.app);
        expect(await echoed(t.app)).toEqual([
          {
            queue: "raw",
            id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
            attempts: 1,
            timestamp: expect.any(String),
            type: "object",
            body: { hello: "world", n: [1, 2] },
          },
        ]);
        // The first-sent time is the send's, on the target's clock.
        const sentAt = Date.parse(got!.timestamp);
        expectAbout("first-sent time after the send began", sentAt - sentFrom, 0, sentBy - sentFrom);
      },
    },
  );

  t.test(
    "§queues/delivery/6 queue handler: a message keeps its id and first-sent time on every delivery; attempts count up",
    {
      manual: async () => {
        const id = uid("same");
        const sentAt = new Date(await t.app.now()).toISOString();
        await t.app.queue("jobs").send({ id, action: "fail-once" });
        await t.app.idle();
        await t.app.advance("10s");
        const [first, second] = [await delivery(t.app, id, 1), await delivery(t.app, id, 2)];
        expect(second.messageId).toBe(first.messageId);
        expect([first.timestamp, second.timestamp]).toEqual([sentAt, sentAt]);
      },
      real: async () => {
        const id = uid("same");
        const sentFrom = Date.now();
        await t.app.queue("rt-jobs").send({ id, action: "fail-once" });
        const sentBy = Date.now();
        const [first, second] = await waitFor("the retry of a failed delivery", async () => {
          const got = await timed(t.app, id);
          return got.length === 2 && got;
        });
        expect([first!.attempts, second!.attempts]).toEqual([1, 2]);
        expect(second!.messageId).toBe(first!.messageId);
        expect(second!.timestamp).toBe(first!.timestamp);
        expectAbout(
          "first-sent time after the send began",
          Date.parse(first!.timestamp) - sentFrom,
          0,
          sentBy - sentFrom,
        );
      },
    },
  );

  t.test("§queues/delivery/6 sendBatch: message ids are unique", async () => {
    await t.app.queue("raw").sendBatch(Array.from({ length: 20 }, (_, i) => ({ body: i })));
    await t.app.idle();
    expect(new Set((await echoed(t.app)).map((e) => e.id)).size).toBe(20);
  });

  t.test("§queues/delivery/5 send: at most `concurrency` batches run at once; the others wait as depth", {
    manual: async () => {
      const ids = [uid("c"), uid("c"), uid("c")];
      for (const id of ids) await t.app.queue("slow").send({ id });
      // `slow` takes one message a batch, two batches at a time; gated holds each until it is opened.
      expect(await stats("slow")).toEqual({ ...zero, inFlight: 2, depth: 1 });
      for (const id of ids) await open(t.app, id);
      await t.app.idle();
      expect(await stats("slow")).toEqual(zero);
      for (const id of ids) expect(await gatedKeys(t.app, id)).toEqual([`gated/${id}/1`]);
    },
    real: async () => {
      const ids = [uid("c"), uid("c"), uid("c")];
      for (const id of ids) await t.app.queue("slow").send({ id });
      // `slow` takes one message a batch, two batches at a time; gated holds each until it is opened.
      await waitFor("two deliveries of slow running", async () => {
        const now = await stats("slow");
        return now.inFlight === 2 && now;
      });
      // The third stays waiting for as long as the two are held.
      await sleep(1_000);
      expect(await stats("slow")).toEqual({ ...zero, inFlight: 2, depth: 1 });
      for (const id of ids) await open(t.app, id);
      await t.app.idle();
      expect(await stats("slow")).toEqual(zero);
      for (const id of ids) expect(await gatedKeys(t.app, id)).toEqual([`gated/${id}/1`]);
    },
  });

  t.test("§queues/delivery/3 send: a batch holds messages of one queue only", async () => {
    const [job, lone] = [uid("job"), uid("lone")];
    await t.app.queue("jobs").send({ id: job });
    await t.app.queue("once").send({ id: lone });
    await t.app.idle();
    expect(await delivery(t.app, job, 1)).toMatchObject({ queue: "jobs", batch: [job] });
    expect(await delivery(t.app, lone, 1, "once")).toMatchObject({ queue: "once", batch: [lone] });
  });

  t.test("§queues/delivery/1 send: a message is delivered until it is acked: one that fails is delivered again", {
    manual: async () => {
      const id = uid("until-acked");
      await t.app.queue("jobs").send({ id, action: "fail-once" });
      await t.app.idle();
      expect(await deliveries(t.app, id)).toEqual([1]);
      await t.app.advance("10s");
      expect(await deliveries(t.app, id)).toEqual([1, 2]);
      expect(await stats("jobs")).toEqual(zero);
    },
    real: async () => {
      const id = uid("until-acked");
      await t.app.queue("rt-jobs").send({ id, action: "fail-once" });
      await t.app.idle();
      const [first, second] = await waitFor("the retry of a failed delivery", async () => {
        const got = await timed(t.app, id);
        return got.length === 2 && got;
      });
      // Delivered again after `rt-jobs`' back-off (1 s), then acked.
      expectAbout("retry after the failed delivery", second!.at - first!.at, 1_000);
      await t.app.idle();
      expect((await timed(t.app, id)).map((d) => d.attempts)).toEqual([1, 2]);
      expect(await stats("rt-jobs")).toEqual(zero);
    },
  });

  t.test("§queues/delivery/7 stats: counts depth, inFlight, delayed and deadLettered", async () => {
    const held = uid("held");
    await t.app.queue("typed").send({ id: uid("waiting") });
    await t.app.queue("jobs").send({ id: uid("later") }, { delay: "1m" });
    await t.app.queue("once").send({ id: uid("dies"), action: "throw" });
    await t.app.idle();
    // `gated` holds it until its gate opens (idle() would wait for that).
    await t.app.queue("slow").send({ id: held });
    await waitFor("the delivery of the held message", async () => (await gatedKeys(t.app, held)).length > 0);
    expect(await stats("slow")).toEqual({ ...zero, inFlight: 1 });
    expect(await stats("typed")).toEqual({ ...zero, depth: 1 });
    expect(await stats("jobs")).toEqual({ ...zero, delayed: 1 });
    expect(await stats("once")).toEqual({ ...zero, deadLettered: 1 });
    expect(await stats("once-dlq")).toEqual({ ...zero, depth: 1 });
    await open(t.app, held);
  });
});

conformance("queues: order and batches", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();

  t.test("§queues/ordering/1 sendBatch: a batch holds the oldest messages first, in send order", async () => {
    const ids = Array.from({ length: 5 }, () => uid("ordered"));
    await t.app.queue("jobs").sendBatch(ids.map((id) => ({ body: { id } })));
    await t.app.idle();
    expect((await delivery(t.app, ids[0]!, 1)).batch).toEqual(ids);
  });

  t.test(
    "§queues/ordering/1 §queues/delivery/3 send: messages sent while a batch runs come in the next batches, at most batchSize each, in send order",
    async () => {
      const first = uid("first");
      const rest = Array.from({ length: 12 }, () => uid("queued"));
      // `first` takes 300 ms: the twelve, sent meanwhile, wait and then go in two batches.
      await t.app.queue("jobs").send({ id: first, action: "slow", ms: 300 });
      // On the real clock the batch starts when the consumer pulls it, and is fixed once the
      // handler records it: the rest is sent then.
      for (const deadline = Date.now() + 20_000; (await deliveries(t.app, first)).length < 1; ) {
        if (Date.now() > deadline) throw new Error(`"${first}" was not delivered within 20s`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await t.app.queue("jobs").sendBatch(rest.map((id) => ({ body: { id } })));
      await t.app.idle();
      expect((await delivery(t.app, first, 1)).batch).toEqual([first]);
      expect((await delivery(t.app, rest[0]!, 1)).batch).toEqual(rest.slice(0, 10));
      expect((await delivery(t.app, rest[10]!, 1)).batch).toEqual(rest.slice(10));
    },
  );

  t.test("§queues/ordering/2 retry: a message deliverable again goes before messages sent after it", {
    manual: async () => {
      const [older, newer] = [uid("older"), uid("newer")];
      await t.app.queue("jobs").send({ id: older, action: "retry-later" });
      await t.app.idle();
      await t.app.advance("1s");
      // Sent after `older`, deliverable at the same moment as its retry (5 s after its first delivery).
      await t.app.queue("jobs").send({ id: newer }, { delay: "4s" });
      await t.app.advance("4s");
      expect((await delivery(t.app, newer, 1)).batch).toEqual([older, newer]);
    },
    real: async () => {
      const [older, newer] = [uid("older"), uid("newer")];
      // `rt-batched` waits 3 s for a batch: `older`'s retry (due 1 s after its first delivery)
      // becomes deliverable while the batch `newer` opened waits, so both go in one batch.
      await t.app.queue("rt-batched").send({ id: older, action: "fail-once" });
      const [first] = await waitFor("the first delivery of older", async () => {
        const got = await timed(t.app, older);
        return got.length > 0 && got;
      });
      await t.app.queue("rt-batched").send({ id: newer });
      const [got] = await waitFor("the delivery of newer", async () => {
        const found = await timed(t.app, newer);
        return found.length > 0 && found;
      });
      expect(got!.batch).toHaveLength(2);
      // docs/deployed-runtime.md: the deployed runtime does not keep ordering/2 (a retried
      // message is a new copy at the back), so only the batch's members are checked here.
      expect(got!.batch).toEqual(expect.arrayContaining([older, newer]));
      expect((await timed(t.app, older))[1]!.at).toBe(got!.at);
      expectAbout("older's retry", got!.at - first!.at, 1_000, 3_000 + late);
    },
  });

  t.test("§queues/delivery/4 subscribe: a full batch is delivered as soon as batchSize messages are ready", {
    manual: async () => {
      const ids = [uid("b"), uid("b"), uid("b")];
      await t.app.queue("batched").sendBatch(ids.map((id) => ({ body: { id } })));
      await t.app.idle();
      expect(await batches(t.app)).toEqual([ids]);
      expect(await stats("batched")).toEqual(zero);
    },
    real: async () => {
      const ids = [uid("b"), uid("b"), uid("b")];
      const sentAt = Date.now();
      await t.app.queue("rt-batched").sendBatch(ids.map((id) => ({ body: { id } })));
      await t.app.idle();
      const got = await timedBatches(t.app);
      expect(got.map((b) => b.batch)).toEqual([ids]);
      // At once: well before `rt-batched`' batch wait (3 s).
      expectAbout("a full batch's delivery", got[0]!.at - sentAt, 0);
      expect(await stats("rt-batched")).toEqual(zero);
    },
  });

  t.test("§queues/delivery/4 subscribe: a partial batch is delivered once its oldest message has waited maxBatchWait", {
    manual: async () => {
      const ids = [uid("p"), uid("p")];
      for (const id of ids) await t.app.queue("batched").send({ id });
      await t.app.idle();
      expect(await batches(t.app)).toEqual([]);
      expect(await stats("batched")).toEqual({ ...zero, depth: 2 });
      await t.app.advance(19_999);
      expect(await batches(t.app)).toEqual([]);
      await t.app.advance(1);
      expect(await batches(t.app)).toEqual([ids]);
      expect(await stats("batched")).toEqual(zero);
    },
    real: async () => {
      const ids = [uid("p"), uid("p")];
      const sentAt = Date.now();
      for (const id of ids) await t.app.queue("rt-batched").send({ id });
      // Well before `rt-batched`' batch wait (3 s) is over; the counts are checked last.
      expect(await timedBatches(t.app)).toEqual([]);
      const waiting = await stats("rt-batched");
      expect(Date.now() - sentAt).toBeLessThan(2_700);
      const [got] = await waitFor("the partial batch", async () => {
        const found = await timedBatches(t.app);
        return found.length > 0 && found;
      });
      expect(got!.batch).toEqual(ids);
      expectAbout("the partial batch's delivery after its oldest message's send", got!.at - sentAt, 3_000);
      await t.app.idle();
      expect(await stats("rt-batched")).toEqual(zero);
      expect(waiting, "the counts while the batch waited").toEqual({ ...zero, depth: 2 });
    },
  });

  t.test("§queues/delivery/4 subscribe: the wait counts from the oldest message, not the latest", {
    manual: async () => {
      const [oldest, newer] = [uid("oldest"), uid("newer")];
      await t.app.queue("batched").send({ id: oldest });
      await t.app.advance("15s");
      await t.app.queue("batched").send({ id: newer });
      await t.app.advance(4_999);
      expect(await batches(t.app)).toEqual([]);
      await t.app.advance(1);
      expect(await batches(t.app)).toEqual([[oldest, newer]]);
    },
    real: async () => {
      const [oldest, newer] = [uid("oldest"), uid("newer")];
      const sentAt = Date.now();
      await t.app.queue("rt-batched").send({ id: oldest });
      await sleep(2_500);
      await t.app.queue("rt-batched").send({ id: newer });
      const [got] = await waitFor("the batch", async () => {
        const found = await timedBatches(t.app);
        return found.length > 0 && found;
      });
      expect(got!.batch).toEqual([oldest, newer]);
      // 3 s after `oldest`; counted from `newer` it would be 5.5 s, past the tolerance.
      expectAbout("the batch's delivery after the oldest message's send", got!.at - sentAt, 3_000);
    },
  });

  t.test("§queues/delivery/4 subscribe: a delayed message's wait starts when it becomes deliverable", {
    manual: async () => {
      const id = uid("delayed-batch");
      await t.app.queue("batched").send({ id }, { delay: "30s" });
      await t.app.advance(30_000 + 19_999);
      expect(await batches(t.app)).toEqual([]);
      await t.app.advance(1);
      expect(await batches(t.app)).toEqual([[id]]);
    },
    real: async () => {
      const id = uid("delayed-batch");
      const sentAt = Date.now();
      await t.app.queue("rt-batched").send({ id }, { delay: "1s" });
      const [got] = await waitFor("the batch", async () => {
        const found = await timedBatches(t.app);
        return found.length > 0 && found;
      });
      expect(got!.batch).toEqual([id]);
      // The 1 s delay, then the 3 s batch wait; counted from the send it would be 3 s.
      expectAbout("the batch's delivery after the send", got!.at - sentAt, 4_000);
    },
  });

  t.test(
    "§queues/delivery/4 subscribe: a partial batch whose oldest message waited maxBatchWait while the consumer was busy goes as soon as a slot frees",
    {
      manual: async () => {
        const [a, b, c] = [uid("held"), uid("held"), uid("held")];
        // A full batch (two) is delivered and held open; `held` runs one batch at a time.
        await t.app.queue("held").sendBatch([{ body: { id: a } }, { body: { id: b } }]);
        expect(await stats("held")).toEqual({ ...zero, inFlight: 2 });
        await t.app.queue("held").send({ id: c });
        await t.app.advance("15s");
        expect(await stats("held")).toEqual({ ...zero, inFlight: 2, depth: 1 });

        // `c` has waited 15 s, more than maxBatchWait (10 s): once the slot frees it is delivered at once.
        for (const id of [a, b, c]) await open(t.app, id);
        await t.app.idle();
        expect(await gatedKeys(t.app, c)).toEqual([`gated/${c}/1`]);
        expect(await stats("held")).toEqual(zero);
      },
      real: async () => {
        const [a, b, c] = [uid("held"), uid("held"), uid("held")];
        // A full batch (two) is delivered and held open; `rt-held` runs one batch at a time.
        await t.app.queue("rt-held").sendBatch([{ body: { id: a } }, { body: { id: b } }]);
        // `gated` records a batch's messages one by one as their gates open: `a` stands for it.
        await waitFor("the first batch", async () => (await gatedKeys(t.app, a)).length > 0);
        expect(await stats("rt-held")).toEqual({ ...zero, inFlight: 2 });
        await t.app.queue("rt-held").send({ id: c });
        // Past `rt-held`'s batch wait (3 s) while the slot is taken.
        await sleep(3_500);
        expect(await stats("rt-held")).toEqual({ ...zero, inFlight: 2, depth: 1 });

        // `c` has waited longer than maxBatchWait: once the slot frees it is delivered at once.
        for (const id of [c, a, b]) await open(t.app, id);
        const freedAt = Date.now();
        await waitFor("the delivery of c", async () => (await gatedKeys(t.app, c)).length > 0);
        expectAbout("c's delivery after the slot freed", Date.now() - freedAt, 0);
        await t.app.idle();
        expect(await gatedKeys(t.app, c)).toEqual([`gated/${c}/1`]);
        expect(await stats("rt-held")).toEqual(zero);
      },
    },
  );

  t.test("§queues/delivery/4 subscribe: a third message completes a waiting batch at once", {
    manual: async () => {
      const ids = [uid("w"), uid("w"), uid("w")];
      await t.app.queue("batched").send({ id: ids[0]! });
      await t.app.queue("batched").send({ id: ids[1]! });
      await t.app.advance("5s");
      expect(await batches(t.app)).toEqual([]);
      await t.app.queue("batched").send({ id: ids[2]! });
      await t.app.idle();
      expect(await batches(t.app)).toEqual([ids]);
    },
    real: async () => {
      const ids = [uid("w"), uid("w"), uid("w")];
      const sentAt = Date.now();
      await t.app.queue("rt-batched").send({ id: ids[0]! });
      await t.app.queue("rt-batched").send({ id: ids[1]! });
      await sleep(500);
      expect(await timedBatches(t.app)).toEqual([]);
      await t.app.queue("rt-batched").send({ id: ids[2]! });
      await t.app.idle();
      const got = await timedBatches(t.app);
      expect(got.map((batch) => batch.batch)).toEqual([ids]);
      // At once, not at the end of the first message's 3 s wait.
      expect(got[0]!.at - sentAt).toBeLessThan(2_700);
    },
  });

  t.test("§queues/delivery/3-4 subscribe: batches never exceed batchSize; the remainder waits for maxBatchWait", {
    manual: async () => {
      const ids = Array.from({ length: 7 }, () => uid("s"));
      await t.app.queue("batched").sendBatch(ids.map((id) => ({ body: { id } })));
      await t.app.idle();
      const full = await batches(t.app);
      expect(full.sort((a, b) => ids.indexOf(a[0]!) - ids.indexOf(b[0]!))).toEqual([ids.slice(0, 3), ids.slice(3, 6)]);
      expect(await stats("batched")).toEqual({ ...zero, depth: 1 });
      await t.app.advance("20s");
      expect((await batches(t.app)).map((batch) => batch.length).sort()).toEqual([1, 3, 3]);
      expect(await stats("batched")).toEqual(zero);
    },
    real: async () => {
      const ids = Array.from({ length: 7 }, () => uid("s"));
      const sentAt = Date.now();
      await t.app.queue("rt-batched").sendBatch(ids.map((id) => ({ body: { id } })));
      const full = await waitFor("two full batches", async () => {
        const found = await timedBatches(t.app);
        return found.length >= 2 && found.map((b) => b.batch);
      });
      expect(full.sort((a, b) => ids.indexOf(a[0]!) - ids.indexOf(b[0]!))).toEqual([ids.slice(0, 3), ids.slice(3, 6)]);
      // Well before `rt-batched`' batch wait (3 s) is over; the counts are checked last.
      const waiting = await stats("rt-batched");
      expect(Date.now() - sentAt).toBeLessThan(2_700);
      const [rest] = await waitFor("the remainder", async () => {
        const found = await timed(t.app, ids[6]!);
        return found.length > 0 && found;
      });
      expect(rest!.batch).toEqual([ids[6]]);
      expectAbout("the remainder's delivery after the send", rest!.at - sentAt, 3_000);
      expect((await timedBatches(t.app)).map((batch) => batch.batch.length).sort()).toEqual([1, 3, 3]);
      await t.app.idle();
      expect(await stats("rt-batched")).toEqual(zero);
      expect(waiting, "the counts while the remainder waited").toEqual({ ...zero, depth: 1 });
    },
  });
});

conformance("queues: delays", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();

  t.test("§queues/delays/1 send: a delay holds the message back that long, counted as delayed meanwhile", {
    manual: async () => {
      const id = uid("delayed");
      await t.app.queue("jobs").send({ id }, { delay: "30s" });
      await t.app.idle();
      expect(await stats("jobs")).toEqual({ ...zero, delayed: 1 });
      await t.app.advance(29_999);
      expect(await deliveries(t.app, id)).toEqual([]);
      expect(await stats("jobs")).toEqual({ ...zero, delayed: 1 });
      await t.app.advance(1);
      expect(await deliveries(t.app, id)).toEqual([1]);
      expect(await stats("jobs")).toEqual(zero);
    },
    real: async () => {
      const id = uid("delayed");
      const sentAt = Date.now();
      await t.app.queue("rt-jobs").send({ id }, { delay: "2s" });
      await t.app.idle();
      expect(await stats("rt-jobs")).toEqual({ ...zero, delayed: 1 });
      expect(await timed(t.app, id)).toEqual([]);
      const [got] = await waitFor("the delayed message", async () => {
        const found = await timed(t.app, id);
        return found.length > 0 && found;
      });
      expectAbout("the delivery after the send", got!.at - sentAt, 2_000);
      await t.app.idle();
      expect(await stats("rt-jobs")).toEqual(zero);
    },
  });

  t.test("§queues/delays/2 send: a binding's delay in seconds (30) holds the message back 30 s", {
    manual: async () => {
      const id = uid("binding-delay");
      const response = await t.app.fetch("/send?delay=30", { method: "POST", body: JSON.stringify({ id }) });
      expect(response.status).toBe(202);
      await t.app.idle();
      expect(await stats("jobs")).toEqual({ ...zero, delayed: 1 });
      await t.app.advance(29_999);
      expect(await deliveries(t.app, id)).toEqual([]);
      await t.app.advance(1);
      expect(await deliveries(t.app, id)).toEqual([1]);
    },
    real: async () => {
      const id = uid("binding-delay");
      const sentAt = Date.now();
      const response = await t.app.fetch("/send?delay=2", { method: "POST", body: JSON.stringify({ id }) });
      expect(response.status).toBe(202);
      await t.app.idle();
      expect(await stats("jobs")).toEqual({ ...zero, delayed: 1 });
      expect(await deliveries(t.app, id)).toEqual([]);
      await waitFor("the delayed message", async () => (await deliveries(t.app, id)).length > 0);
      // `worker` records no time: seen by polling, so only ever late.
      expectAbout("the delivery after the send", Date.now() - sentAt, 2_000);
      expect(await deliveries(t.app, id)).toEqual([1]);
    },
  });

  t.test("§queues/delays/1-2 sendBatch: each message keeps its own delay; 0 and 12h are allowed", {
    manual: async () => {
      const [now, soon, later, longest] = [uid("now"), uid("soon"), uid("later"), uid("longest")];
      await t.app.queue("jobs").sendBatch([
        { body: { id: now }, delay: 0 },
        { body: { id: soon }, delay: 10 },
        { body: { id: later }, delay: "1m" },
        { body: { id: longest }, delay: "12h" },
      ]);
      await t.app.idle();
      expect(await deliveries(t.app, now)).toEqual([1]);
      expect(await stats("jobs")).toEqual({ ...zero, delayed: 3 });
      await t.app.advance("10s");
      expect(await deliveries(t.app, soon)).toEqual([1]);
      expect(await deliveries(t.app, later)).toEqual([]);
      await t.app.advance("50s");
      expect(await deliveries(t.app, later)).toEqual([1]);
      await t.app.advance("12h");
      expect(await deliveries(t.app, longest)).toEqual([1]);
    },
    real: async () => {
      const [now, soon, later, longest] = [uid("now"), uid("soon"), uid("later"), uid("longest")];
      const sentAt = Date.now();
      await t.app.queue("rt-jobs").sendBatch([
        { body: { id: now }, delay: 0 },
        { body: { id: soon }, delay: 1 },
        { body: { id: later }, delay: "2s" },
        { body: { id: longest }, delay: "12h" },
      ]);
      await t.app.idle();
      expect((await timed(t.app, now)).map((d) => d.attempts)).toEqual([1]);
      expect(await stats("rt-jobs")).toEqual({ ...zero, delayed: 3 });
      const delivered = (id: string) =>
        waitFor(`the delivery of ${id}`, async () => {
          const found = await timed(t.app, id);
          return found.length > 0 && found[0];
        });
      expectAbout("soon's delivery after the send", (await delivered(soon)).at - sentAt, 1_000);
      expectAbout("later's delivery after the send", (await delivered(later)).at - sentAt, 2_000);
      await t.app.idle();
      expect(await timed(t.app, longest)).toEqual([]);
      expect(await stats("rt-jobs")).toEqual({ ...zero, delayed: 1 });
    },
  });

  t.test("§queues/delays/3 send: a delayed message does not hold back messages sent after it", async () => {
    const [delayed, prompt] = [uid("delayed"), uid("prompt")];
    await t.app.queue("jobs").send({ id: delayed }, { delay: "1h" });
    await t.app.queue("jobs").send({ id: prompt });
    await t.app.idle();
    expect(await delivery(t.app, prompt, 1)).toMatchObject({ batch: [prompt] });
    expect(await deliveries(t.app, delayed)).toEqual([]);
  });
});

conformance("queues: the clock", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();

  t.test("§queues/clock/3 idle: waits for a running delivery", async () => {
    const id = uid("slowly");
    await t.app.queue("jobs").send({ id, action: "slow", ms: 300 });
    await t.app.idle();
    expect(await deliveries(t.app, id)).toEqual([1]);
    expect(await stats("jobs")).toEqual(zero);
  });

  t.test(
    "§queues/clock/1 §queues/clock/3 idle: resolves while delayed messages, back-offs and a partial batch wait, without delivering them",
    {
      manual: async () => {
        const [delayed, retried, partial] = [uid("delayed"), uid("retried"), uid("partial")];
        await t.app.queue("jobs").send({ id: delayed }, { delay: "1h" });
        await t.app.queue("jobs").send({ id: retried, action: "retry" });
        await t.app.queue("batched").send({ id: partial });
        const before = await t.app.now();
        await t.app.idle();
        expect(await t.app.now()).toBe(before);
        expect(await deliveries(t.app, delayed)).toEqual([]);
        expect(await deliveries(t.app, retried)).toEqual([1]);
        expect(await batches(t.app)).toEqual([]);
        expect(await stats("jobs")).toEqual({ ...zero, delayed: 2 });
        expect(await stats("batched")).toEqual({ ...zero, depth: 1 });
      },
      real: async () => {
        const [delayed, retried, partial] = [uid("delayed"), uid("retried"), uid("partial")];
        await t.app.queue("jobs").send({ id: delayed }, { delay: "1h" });
        // `jobs` backs off 10 s and `rt-batched` waits 3 s: idle() resolves before either is due.
        await t.app.queue("jobs").send({ id: retried, action: "retry" });
        const before = Date.now();
        await t.app.queue("rt-batched").send({ id: partial });
        await t.app.idle();
        expect(Date.now() - before).toBeLessThan(2_700);
        expect(await deliveries(t.app, delayed)).toEqual([]);
        expect(await deliveries(t.app, retried)).toEqual([1]);
        expect(await timedBatches(t.app)).toEqual([]);
        expect(await stats("jobs")).toEqual({ ...zero, delayed: 2 });
        expect(await stats("rt-batched")).toEqual({ ...zero, depth: 1 });
      },
    },
  );

  t.test(
    "§queues/clock/2 advance: fires what falls due on the way in time order, each delivery settled before the next step",
    {
      manual: async () => {
        const [first, second] = [uid("at-10s"), uid("at-20s")];
        await t.app.queue("jobs").send({ id: second }, { delay: "20s" });
        await t.app.queue("jobs").send({ id: first }, { delay: "10s" });
        await t.app.advance("1m");
        const [a, b] = [await delivery(t.app, first, 1), await delivery(t.app, second, 1)];
        expect([a.batch, b.batch]).toEqual([[first], [second]]);
        const uploaded = async (id: string) => (await t.app.bucket("results").head(`deliveries/${id}/1`))!.uploaded;
        expect((await uploaded(second)).getTime() - (await uploaded(first)).getTime()).toBe(10_000);
        expect(await keys(t.app, "deliveries/")).toHaveLength(2);
      },
      real: async () => {
        const [first, second] = [uid("at-1s"), uid("at-2s")];
        await t.app.queue("rt-jobs").send({ id: second }, { delay: "2s" });
        await t.app.queue("rt-jobs").send({ id: first }, { delay: "1s" });
        const delivered = (id: string) =>
          waitFor(`the delivery of ${id}`, async () => {
            const found = await timed(t.app, id);
            return found.length > 0 && found[0];
          });
        const [a, b] = [await delivered(first), await delivered(second)];
        expect([a.batch, b.batch]).toEqual([[first], [second]]);
        expectAbout("the second delivery after the first", b.at - a.at, 1_000);
        await t.app.idle();
        expect(await keys(t.app, "timed/")).toHaveLength(2);
      },
    },
  );
});
