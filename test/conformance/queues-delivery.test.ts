// docs/semantics.md "Queues": delivery, success, ordering, batches and delays, on every
// target, through test/fixtures/queues (its handlers record each delivery in `results`).
import { expect } from "vitest";
import { uniqueNames, noMessages as zero } from "../support/suite.ts";
import { conformance, fixture } from "./conformance.ts";
import { batches, deliveries, delivery, echoed, gatedKeys, keys, open } from "./queues-records.ts";

const uid = uniqueNames();
const clock = { needs: "clock" } as const;

conformance("queues: delivery and success", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();

  t.test(
    "§queues/success/1-2 queue handler: returning acks ack()ed and unsettled messages alike, and they never come back",
    async () => {
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
    clock,
  );

  t.test(
    "§queues/delivery/6 queue handler: gets the batch's queue and each message's id, body, attempts and first-sent time",
    async () => {
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
    clock,
  );

  t.test(
    "§queues/delivery/6 queue handler: a message keeps its id and first-sent time on every delivery; attempts count up",
    async () => {
      const id = uid("same");
      const sentAt = new Date(await t.app.now()).toISOString();
      await t.app.queue("jobs").send({ id, action: "fail-once" });
      await t.app.idle();
      await t.app.advance("10s");
      const [first, second] = [await delivery(t.app, id, 1), await delivery(t.app, id, 2)];
      expect(second.messageId).toBe(first.messageId);
      expect([first.timestamp, second.timestamp]).toEqual([sentAt, sentAt]);
    },
    clock,
  );

  t.test("§queues/delivery/6 sendBatch: message ids are unique", async () => {
    await t.app.queue("raw").sendBatch(Array.from({ length: 20 }, (_, i) => ({ body: i })));
    await t.app.idle();
    expect(new Set((await echoed(t.app)).map((e) => e.id)).size).toBe(20);
  });

  t.test(
    "§queues/delivery/5 send: at most `concurrency` batches run at once; the others wait as depth",
    async () => {
      const ids = [uid("c"), uid("c"), uid("c")];
      for (const id of ids) await t.app.queue("slow").send({ id });
      // `slow` takes one message a batch, two batches at a time; gated holds each until it is opened.
      expect(await stats("slow")).toEqual({ ...zero, inFlight: 2, depth: 1 });
      for (const id of ids) await open(t.app, id);
      await t.app.idle();
      expect(await stats("slow")).toEqual(zero);
      for (const id of ids) expect(await gatedKeys(t.app, id)).toEqual([`gated/${id}/1`]);
    },
    clock,
  );

  t.test("§queues/delivery/3 send: a batch holds messages of one queue only", async () => {
    const [job, lone] = [uid("job"), uid("lone")];
    await t.app.queue("jobs").send({ id: job });
    await t.app.queue("once").send({ id: lone });
    await t.app.idle();
    expect(await delivery(t.app, job, 1)).toMatchObject({ queue: "jobs", batch: [job] });
    expect(await delivery(t.app, lone, 1, "once")).toMatchObject({ queue: "once", batch: [lone] });
  });

  t.test(
    "§queues/delivery/1 send: a message is delivered until it is acked: one that fails is delivered again",
    async () => {
      const id = uid("until-acked");
      await t.app.queue("jobs").send({ id, action: "fail-once" });
      await t.app.idle();
      expect(await deliveries(t.app, id)).toEqual([1]);
      await t.app.advance("10s");
      expect(await deliveries(t.app, id)).toEqual([1, 2]);
      expect(await stats("jobs")).toEqual(zero);
    },
    clock,
  );

  t.test(
    "§queues/delivery/7 stats: counts depth, inFlight, delayed and deadLettered",
    async () => {
      const held = uid("held");
      await t.app.queue("typed").send({ id: uid("waiting") });
      await t.app.queue("jobs").send({ id: uid("later") }, { delay: "1m" });
      await t.app.queue("once").send({ id: uid("dies"), action: "throw" });
      await t.app.idle();
      // `gated` holds it until its gate opens (idle() would wait for that).
      await t.app.queue("slow").send({ id: held });
      expect(await stats("slow")).toEqual({ ...zero, inFlight: 1 });
      expect(await stats("typed")).toEqual({ ...zero, depth: 1 });
      expect(await stats("jobs")).toEqual({ ...zero, delayed: 1 });
      expect(await stats("once")).toEqual({ ...zero, deadLettered: 1 });
      expect(await stats("once-dlq")).toEqual({ ...zero, depth: 1 });
      await open(t.app, held);
    },
    clock,
  );
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
      // On the real clock the batch starts when the consumer pulls it: the rest is sent once it runs.
      for (const deadline = Date.now() + 20_000; (await t.app.queue("jobs").stats()).inFlight < 1; ) {
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

  t.test(
    "§queues/ordering/2 retry: a message deliverable again goes before messages sent after it",
    async () => {
      const [older, newer] = [uid("older"), uid("newer")];
      await t.app.queue("jobs").send({ id: older, action: "retry-later" });
      await t.app.idle();
      await t.app.advance("1s");
      // Sent after `older`, deliverable at the same moment as its retry (5 s after its first delivery).
      await t.app.queue("jobs").send({ id: newer }, { delay: "4s" });
      await t.app.advance("4s");
      expect((await delivery(t.app, newer, 1)).batch).toEqual([older, newer]);
    },
    clock,
  );

  t.test(
    "§queues/delivery/4 subscribe: a full batch is delivered as soon as batchSize messages are ready",
    async () => {
      const ids = [uid("b"), uid("b"), uid("b")];
      await t.app.queue("batched").sendBatch(ids.map((id) => ({ body: { id } })));
      await t.app.idle();
      expect(await batches(t.app)).toEqual([ids]);
      expect(await stats("batched")).toEqual(zero);
    },
    clock,
  );

  t.test(
    "§queues/delivery/4 subscribe: a partial batch is delivered once its oldest message has waited maxBatchWait",
    async () => {
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
    clock,
  );

  t.test(
    "§queues/delivery/4 subscribe: the wait counts from the oldest message, not the latest",
    async () => {
      const [oldest, newer] = [uid("oldest"), uid("newer")];
      await t.app.queue("batched").send({ id: oldest });
      await t.app.advance("15s");
      await t.app.queue("batched").send({ id: newer });
      await t.app.advance(4_999);
      expect(await batches(t.app)).toEqual([]);
      await t.app.advance(1);
      expect(await batches(t.app)).toEqual([[oldest, newer]]);
    },
    clock,
  );

  t.test(
    "§queues/delivery/4 subscribe: a delayed message's wait starts when it becomes deliverable",
    async () => {
      const id = uid("delayed-batch");
      await t.app.queue("batched").send({ id }, { delay: "30s" });
      await t.app.advance(30_000 + 19_999);
      expect(await batches(t.app)).toEqual([]);
      await t.app.advance(1);
      expect(await batches(t.app)).toEqual([[id]]);
    },
    clock,
  );

  t.test(
    "§queues/delivery/4 subscribe: a partial batch whose oldest message waited maxBatchWait while the consumer was busy goes as soon as a slot frees",
    async () => {
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
    clock,
  );

  t.test(
    "§queues/delivery/4 subscribe: a third message completes a waiting batch at once",
    async () => {
      const ids = [uid("w"), uid("w"), uid("w")];
      await t.app.queue("batched").send({ id: ids[0]! });
      await t.app.queue("batched").send({ id: ids[1]! });
      await t.app.advance("5s");
      expect(await batches(t.app)).toEqual([]);
      await t.app.queue("batched").send({ id: ids[2]! });
      await t.app.idle();
      expect(await batches(t.app)).toEqual([ids]);
    },
    clock,
  );

  t.test(
    "§queues/delivery/3-4 subscribe: batches never exceed batchSize; the remainder waits for maxBatchWait",
    async () => {
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
    clock,
  );
});

conformance("queues: delays", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();

  t.test(
    "§queues/delays/1 send: a delay holds the message back that long, counted as delayed meanwhile",
    async () => {
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
    clock,
  );

  t.test(
    "§queues/delays/2 send: a binding's delay in seconds (30) holds the message back 30 s",
    async () => {
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
    clock,
  );

  t.test(
    "§queues/delays/1-2 sendBatch: each message keeps its own delay; 0 and 12h are allowed",
    async () => {
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
    clock,
  );

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
    async () => {
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
    clock,
  );

  t.test(
    "§queues/clock/2 advance: fires what falls due on the way in time order, each delivery settled before the next step",
    async () => {
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
    clock,
  );
});
