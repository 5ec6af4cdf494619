// docs/semantics.md "Queues", durability: what survives an update, a clean restart and a
// kill -9 of the target, and what a reset empties, on every target.
import { expect } from "vitest";
import { uniqueNames, noMessages as zero } from "../support/suite.ts";
import { conformance, type DeployedApp, editApp, fixture } from "./conformance.ts";
import { batches, type Delivery, deliveries, gatedKeys, keys, open } from "./queues-records.ts";

const uid = uniqueNames();
const clock = { needs: "clock" } as const;

interface Seeded {
  acked: string;
  partial: string;
  delayed: string;
  retried: string;
  dead: string;
}

/** An acked message, a partial batch waiting, a delayed message, a retried one and a dead-lettered one. */
async function seed(app: DeployedApp): Promise<Seeded> {
  const ids = {
    acked: uid("acked"),
    partial: uid("partial"),
    delayed: uid("delayed"),
    retried: uid("retried"),
    dead: uid("dead"),
  };
  await app.queue("jobs").send({ id: ids.acked });
  await app.queue("batched").send({ id: ids.partial });
  await app.queue("jobs").send({ id: ids.delayed }, { delay: "1h" });
  await app.queue("jobs").send({ id: ids.retried, action: "fail-once" });
  await app.queue("once").send({ id: ids.dead, action: "throw" });
  await app.idle();
  return ids;
}

async function expectSeeded(app: DeployedApp): Promise<void> {
  expect(await app.queue("batched").stats()).toEqual({ ...zero, depth: 1 });
  expect(await app.queue("jobs").stats()).toEqual({ ...zero, delayed: 2 });
  expect(await app.queue("once").stats()).toEqual({ ...zero, deadLettered: 1 });
  expect(await app.queue("once-dlq").stats()).toEqual({ ...zero, depth: 1 });
}

/** After the hour: each came once more, as what it was (the retried one as its second attempt), the acked one never. */
async function expectDelivered(app: DeployedApp, ids: Seeded): Promise<void> {
  expect(await deliveries(app, ids.acked)).toEqual([1]);
  expect(await keys(app, `batches/${ids.partial}`)).toEqual([`batches/${ids.partial}`]);
  expect(await deliveries(app, ids.delayed)).toEqual([1]);
  expect(await deliveries(app, ids.retried)).toEqual([1, 2]);
  const record = async (attempt: number) =>
    (await app.bucket("results").get(`deliveries/${ids.retried}/${attempt}`))!.json<Delivery>();
  const [first, second] = [await record(1), await record(2)];
  expect({ messageId: second.messageId, timestamp: second.timestamp }).toEqual({
    messageId: first.messageId,
    timestamp: first.timestamp,
  });
  expect(await app.queue("once-dlq").stats()).toEqual({ ...zero, depth: 1 });
  expect(await app.queue("jobs").stats()).toEqual(zero);
  expect(await app.queue("batched").stats()).toEqual(zero);
}

conformance("queues: durability", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();

  t.test(
    "§queues/durability/1 §queues/success/2 update: waiting, delayed, retried and dead-lettered messages stay; acked ones do not come back",
    async () => {
      const ids = await seed(t.app);
      await expectSeeded(t.app);
      await t.app.update();
      await expectSeeded(t.app);
      await t.app.advance("1h");
      await expectDelivered(t.app, ids);
    },
    clock,
  );

  t.test(
    "§queues/durability/1 §queues/success/2 restart: waiting, delayed, retried and dead-lettered messages stay; acked ones do not come back",
    async () => {
      const app = await t.deploy(fixture("queues"), { manualClock: true });
      const ids = await seed(app);
      await expectSeeded(app);
      await app.restart();
      await expectSeeded(app);
      await app.advance("1h");
      await expectDelivered(app, ids);
      expect(await app.queue("once-dlq").redrive()).toEqual({ once: 1 });
      await app.idle();
      expect(await app.queue("once").stats()).toEqual({ ...zero, deadLettered: 1 });
    },
    clock,
  );

  t.test(
    "§queues/durability/1-2 kill: waiting, delayed, retried and dead-lettered messages survive a SIGKILL; one in flight is delivered again once its visibility timeout has passed",
    async () => {
      const app = await t.deploy(fixture("queues"), { manualClock: true });
      const ids = await seed(app);
      const held = uid("held");
      await app.queue("slow").send({ id: held });
      // Killed once `gated` has recorded the delivery, so the kill cuts a running handler short.
      for (const deadline = Date.now() + 10_000; (await gatedKeys(app, held)).length === 0; ) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${held} to be delivered`);
      }
      await app.kill();
      await expectSeeded(app);
      expect(await app.queue("slow").stats()).toEqual({ ...zero, inFlight: 1 });
      // `slow`'s visibility timeout is 10 s: the lease taken before the kill runs out, the
      // delivery counts as failed, and after the 1 s back-off it comes again. The new
      // process's gate is open, so the second delivery acks.
      await open(app, held);
      await app.advance("11s");
      expect(await gatedKeys(app, held)).toEqual([`gated/${held}/1`, `gated/${held}/2`]);
      await app.advance("1h");
      await expectDelivered(app, ids);
      expect(await app.queue("slow").stats()).toEqual(zero);
    },
    clock,
  );

  t.test(
    "§queues/durability/1 §queues/durability/3 kill: after a SIGKILL mid-delivery every message is delivered, a leased one again with its next attempt, and stats end at zero",
    async () => {
      const app = await t.deploy(fixture("queues"), { manualClock: true });
      // 200 jobs, every fifth slow, so batches take a while; and one message on `once` (one
      // attempt only) that is still being handled when the process dies.
      const ids = Array.from({ length: 200 }, () => uid("job"));
      const bodies = ids.map((id, i) => (i % 5 === 0 ? { id, action: "slow" as const, ms: 60 } : { id }));
      await app.queue("jobs").sendBatch(bodies.slice(0, 100).map((body) => ({ body })));
      await app.queue("jobs").sendBatch(bodies.slice(100).map((body) => ({ body })));
      await app.queue("once").send({ id: "held", action: "slow", ms: 60_000 });

      // Kill once some jobs are settled and some are not, with a batch in flight.
      for (const deadline = Date.now() + 20_000; ; ) {
        const jobs = await app.queue("jobs").stats();
        const left = jobs.depth + jobs.inFlight + jobs.delayed;
        if (jobs.inFlight > 0 && left <= 150 && left >= 50) break;
        if (Date.now() > deadline) throw new Error(`timed out waiting for deliveries: ${JSON.stringify(jobs)}`);
      }
      await app.kill();

      // Ready messages go at once; leases expire once the clock passes them (30 s for `jobs`).
      await app.idle();
      await app.advance("2m");
      await app.idle();

      const attempts = new Map<string, number[]>();
      for (const key of await keys(app, "deliveries/")) {
        const [, id, attempt] = key.split("/");
        attempts.set(id!, [...(attempts.get(id!) ?? []), Number(attempt)]);
      }
      for (const id of ids) {
        const got = (attempts.get(id) ?? []).sort((a, b) => a - b);
        // Delivered; and delivered again only as the next attempt of a lease the kill cut short
        // (whose first record the kill may have cut short too).
        expect([[1], [1, 2], [2]], id).toContainEqual(got);
      }
      expect(await app.queue("jobs").stats()).toEqual(zero);
      expect(await app.queue("jobs-dlq").stats()).toEqual(zero);
      // `held` was in flight on its only attempt: its lease expired, so it failed for good and was dead-lettered.
      expect(await app.queue("once").stats()).toEqual({ ...zero, deadLettered: 1 });
      expect(await app.queue("once-dlq").deadLettered()).toEqual([
        expect.objectContaining({ body: { id: "held", action: "slow", ms: 60_000 }, queue: "once", attempts: 1 }),
      ]);
    },
    clock,
  );

  t.test(
    "§queues/durability/4 update: new settings keep the messages and apply from the next failure",
    async () => {
      const id = uid("resettled");
      await t.app.queue("jobs").send({ id, action: "fail-unless-fixed" });
      await t.app.idle();
      expect(await stats("jobs")).toEqual({ ...zero, delayed: 1 });

      const restore = await editApp(t.app, (source) =>
        source.replace(
          'delivery: { maxAttempts: 3, backoff: { initial: "10s", max: "1m" } }',
          'delivery: { maxAttempts: 2, backoff: { initial: "10s", max: "1m" } }',
        ),
      );
      try {
        expect(await stats("jobs")).toEqual({ ...zero, delayed: 1 });
        // The second delivery fails too; with maxAttempts now 2 it is the last.
        await t.app.advance("10s");
        expect(await deliveries(t.app, id)).toEqual([1, 2]);
        expect(await stats("jobs")).toEqual({ ...zero, deadLettered: 1 });
      } finally {
        await restore();
      }
    },
    clock,
  );

  t.test(
    "§queues/durability/1 reset: the queues stay durable: a message sent after a reset survives a restart",
    async () => {
      const app = await t.deploy(fixture("queues"));
      await app.reset();
      await app.queue("typed").send({ id: "after-reset" });
      expect(await app.queue("typed").stats()).toEqual({ ...zero, depth: 1 });
      await app.restart();
      expect(await app.queue("typed").stats()).toEqual({ ...zero, depth: 1 });
    },
  );

  t.test(
    "reset: empties every queue; a partial batch sent after it waits its full maxBatchWait",
    async () => {
      await t.app.queue("batched").send({ id: uid("old") });
      await t.app.queue("jobs").send({ id: uid("old") }, { delay: "1h" });
      await t.app.advance("19s");
      await t.app.reset();
      expect(await stats("batched")).toEqual(zero);
      expect(await stats("jobs")).toEqual(zero);

      const id = uid("new");
      await t.app.queue("batched").send({ id });
      await t.app.idle();
      await t.app.advance(19_999);
      expect(await batches(t.app)).toEqual([]);
      await t.app.advance(1);
      expect(await batches(t.app)).toEqual([[id]]);
    },
    clock,
  );
});
