// docs/semantics.md "Queues", durability: what survives an update, a clean restart and a
// kill -9 of the target, and what a reset empties, on every target.
import { expect } from "vitest";
import { uniqueNames, noMessages as zero } from "../support/suite.ts";
import { conformance, type DeployedApp, editApp, fixture } from "./conformance.ts";
import { batches, type Delivery, deliveries, delivery, gatedAt, gatedKeys, keys, open } from "./queues-records.ts";
import { expectAbout, late, sleep, waitFor } from "./real-time.ts";

const uid = uniqueNames();

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

// The real-clock forms use the fixture's `rtd-*` queues (short durations) and `typed`
// (nobody consumes it, so a message there waits for good): a message due after the update,
// restart or kill must still come, at its time, and an acked one must not come again.

/** `seed` on the real clock; `sentAt` is just before the acked, the delayed and the retried message were sent. */
interface RealSeeded extends Seeded {
  waiting: string;
  sentAt: number;
  /** What `rtd-worker` recorded for the acked message: a second delivery would overwrite it from another process. */
  ackedRecord: Delivery;
}

/** ms `rtd-jobs` waits before a retried message's second delivery, and the delay of the delayed one. */
const backoff = 3_000;
const delay = 4_000;
/** ms `rtd-settings` backs off: longer than an update (a build and a restart of every process or container) takes. */
const settingsBackoff = 20_000;

/** Lets `rtd-gated` ack message `id` (its gates are not `gated`'s). */
async function openRtd(app: DeployedApp, id: string): Promise<void> {
  const response = await app.fetch(`/rtd-open?id=${encodeURIComponent(id)}`, { method: "POST" });
  expect(response.status, "POST /rtd-open").toBe(200);
}

/** When the test first saw `check` hold (so never before it held). */
async function seenAt(what: string, check: () => Promise<boolean>, within?: number): Promise<number> {
  await waitFor(what, check, within);
  return Date.now();
}

/**
 * A message waiting (in `typed`, which nobody consumes), an acked one, a delayed one (4 s),
 * a retried one (3 s back-off), a dead-lettered one, and a partial batch (2 s wait).
 */
async function seedReal(app: DeployedApp): Promise<RealSeeded> {
  const ids = {
    waiting: uid("waiting"),
    acked: uid("acked"),
    partial: uid("partial"),
    delayed: uid("delayed"),
    retried: uid("retried"),
    dead: uid("dead"),
  };
  await app.queue("typed").send({ id: ids.waiting });
  await app.queue("once").send({ id: ids.dead, action: "throw" });
  const sentAt = Date.now();
  await app.queue("rtd-jobs").send({ id: ids.acked });
  await app.queue("rtd-jobs").send({ id: ids.delayed }, { delay: "4s" });
  await app.queue("rtd-jobs").send({ id: ids.retried, action: "fail-once" });
  await waitFor(`${ids.acked} delivered`, async () => (await deliveries(app, ids.acked, "rtd-jobs")).length === 1);
  await waitFor(`${ids.retried} delivered`, async () => (await deliveries(app, ids.retried, "rtd-jobs")).length === 1);
  await waitFor(`${ids.dead} dead-lettered`, async () => (await app.queue("once").stats()).deadLettered === 1);
  await app.queue("rtd-batched").send({ id: ids.partial });
  expect(await app.queue("typed").stats()).toEqual({ ...zero, depth: 1 });
  // The retried message backs off once its failure is settled, just after its record.
  expect(await app.queue("rtd-jobs-dlq").deadLettered()).toEqual([]);
  await waitFor(`${ids.retried} backing off and ${ids.acked} acked`, async () => {
    const { depth, inFlight, delayed } = await app.queue("rtd-jobs").stats();
    return depth === 0 && inFlight === 0 && delayed === 2;
  });
  expect(await app.queue("rtd-jobs").stats()).toEqual({ ...zero, delayed: 2 });
  expect(await app.queue("once").stats()).toEqual({ ...zero, deadLettered: 1 });
  expect(await app.queue("once-dlq").stats()).toEqual({ ...zero, depth: 1 });
  return { ...ids, sentAt, ackedRecord: await delivery(app, ids.acked, 1, "rtd-jobs") };
}

/**
 * After an update, a restart or a kill that ended at `back`: each came once more, as what it
 * was (the retried one as its second attempt), at its time or, when that fell while the
 * app was down, as soon as it was back; the acked one never; the waiting and the dead-lettered
 * one still wait.
 */
async function expectDeliveredReal(app: DeployedApp, ids: RealSeeded, back: number): Promise<void> {
  const due = (ms: number) => Math.max(ms, back - ids.sentAt);
  const retriedAt = await seenAt(
    `${ids.retried}'s second delivery`,
    async () => (await deliveries(app, ids.retried, "rtd-jobs")).length === 2,
  );
  expectAbout(`${ids.retried}'s second delivery, after its send`, retriedAt - ids.sentAt, due(backoff));
  const delayedAt = await seenAt(
    `${ids.delayed}'s delivery`,
    async () => (await deliveries(app, ids.delayed, "rtd-jobs")).length > 0,
  );
  expectAbout(`${ids.delayed}'s delivery, after its send`, delayedAt - ids.sentAt, due(delay));
  await waitFor(`${ids.partial}'s batch`, async () => (await keys(app, `batches/${ids.partial}`)).length > 0);
  await app.idle();

  expect(await deliveries(app, ids.acked, "rtd-jobs")).toEqual([1]);
  expect(await delivery(app, ids.acked, 1, "rtd-jobs"), `${ids.acked} was delivered again`).toEqual(ids.ackedRecord);
  expect(await deliveries(app, ids.delayed, "rtd-jobs")).toEqual([1]);
  expect(await deliveries(app, ids.retried, "rtd-jobs")).toEqual([1, 2]);
  const [first, second] = [
    await delivery(app, ids.retried, 1, "rtd-jobs"),
    await delivery(app, ids.retried, 2, "rtd-jobs"),
  ];
  expect({ messageId: second.messageId, timestamp: second.timestamp }).toEqual({
    messageId: first.messageId,
    timestamp: first.timestamp,
  });
  expect(await keys(app, "batches/")).toEqual([`batches/${ids.partial}`]);
  expect(await app.queue("typed").stats()).toEqual({ ...zero, depth: 1 });
  expect(await app.queue("once").stats()).toEqual({ ...zero, deadLettered: 1 });
  expect(await app.queue("once-dlq").stats()).toEqual({ ...zero, depth: 1 });
  expect(await app.queue("rtd-jobs").stats()).toEqual(zero);
  expect(await app.queue("rtd-batched").stats()).toEqual(zero);
}

conformance("queues: durability", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();

  t.test(
    "§queues/durability/1 §queues/success/2 update: waiting, delayed, retried and dead-lettered messages stay; acked ones do not come back",
    {
      manual: async () => {
        const ids = await seed(t.app);
        await expectSeeded(t.app);
        await t.app.update();
        await expectSeeded(t.app);
        await t.app.advance("1h");
        await expectDelivered(t.app, ids);
      },
      real: async () => {
        const ids = await seedReal(t.app);
        await t.app.update();
        await expectDeliveredReal(t.app, ids, Date.now());
      },
    },
  );

  t.test(
    "§queues/durability/1 §queues/success/2 restart: waiting, delayed, retried and dead-lettered messages stay; acked ones do not come back",
    {
      manual: async () => {
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
      real: async () => {
        const app = await t.deploy(fixture("queues"));
        const ids = await seedReal(app);
        await app.restart();
        await expectDeliveredReal(app, ids, Date.now());
        expect(await app.queue("once-dlq").redrive()).toEqual({ once: 1 });
        await app.idle();
        expect(await app.queue("once").stats()).toEqual({ ...zero, deadLettered: 1 });
      },
    },
    // A deploy of its own and a restart or kill: slow on docker.
    { timeout: 120_000 },
  );

  t.test(
    "§queues/durability/1-2 kill: waiting, delayed, retried and dead-lettered messages survive a SIGKILL; one in flight is delivered again once its visibility timeout has passed",
    {
      manual: async () => {
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
      real: async () => {
        const app = await t.deploy(fixture("queues"));
        const ids = await seedReal(app);
        const held = uid("held");
        await app.queue("rtd-slow").send({ id: held });
        // Killed once `gated` has recorded the delivery, so the kill cuts a running handler short.
        await waitFor(`${held} delivered`, async () => (await gatedKeys(app, held)).length > 0);
        await app.kill();
        const back = Date.now();
        // `rtd-slow`'s visibility timeout is 2 s: the lease taken before the kill runs out, the
        // delivery counts as failed, and after the 1 s back-off it comes again. The new
        // process's gate is open, so the second delivery acks.
        await openRtd(app, held);
        await waitFor(`${held} delivered again`, async () => (await gatedKeys(app, held)).length > 1);
        // Both times as the handler recorded them: when a poll saw a record could lag by a poll.
        const [deliveredAt, againAt] = [await gatedAt(app, held, 1), await gatedAt(app, held, 2)];
        // The kill took nats-server down too, and JetStream keeps a delivery's time on disk in
        // whole seconds: after its restart the lease counts from the start of the second the
        // delivery was made in (made at most `handOver` ms before the handler recorded it).
        const handOver = 20;
        const leasedAt = deliveredAt - handOver - ((deliveredAt - handOver) % 1_000);
        // Due once the lease and the back-off have passed; or, when the kill and the start took
        // longer than the lease, a back-off after the app is back.
        const leaseEnd = leasedAt + 2_000;
        expectAbout(
          `${held}'s second delivery, after the second its first was made in`,
          againAt - leasedAt,
          2_000 + 1_000,
          late + Math.max(0, back - leaseEnd),
        );
        expect(await gatedKeys(app, held)).toEqual([`gated/${held}/1`, `gated/${held}/2`]);
        await expectDeliveredReal(app, ids, back);
        expect(await app.queue("rtd-slow").stats()).toEqual(zero);
      },
    },
    // A deploy of its own and a restart or kill: slow on docker.
    { timeout: 120_000 },
  );

  t.test(
    "§queues/durability/1 §queues/durability/3 kill: after a SIGKILL mid-delivery every message is delivered, a leased one again with its next attempt, and stats end at zero",
    {
      manual: async () => {
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
      real: async () => {
        const app = await t.deploy(fixture("queues"));
        // As above on `rtd-jobs` (a 3 s visibility timeout) and `rtd-once` (5 s), with 60 jobs.
        const ids = Array.from({ length: 60 }, () => uid("job"));
        const bodies = ids.map((id, i) => (i % 5 === 0 ? { id, action: "slow" as const, ms: 60 } : { id }));
        await app.queue("rtd-once").send({ id: "held", action: "slow", ms: 60_000 });
        await waitFor("held delivered", async () => (await deliveries(app, "held", "rtd-once")).length > 0);
        await app.queue("rtd-jobs").sendBatch(bodies.map((body) => ({ body })));

        for (const deadline = Date.now() + 20_000; ; ) {
          const jobs = await app.queue("rtd-jobs").stats();
          const left = jobs.depth + jobs.inFlight + jobs.delayed;
          if (jobs.inFlight > 0 && left <= 45 && left >= 15) break;
          if (Date.now() > deadline) throw new Error(`timed out waiting for deliveries: ${JSON.stringify(jobs)}`);
        }
        await app.kill();

        // Ready messages go at once; leases run out after their visibility timeouts.
        await waitFor(
          "every job settled and held dead-lettered",
          async () => {
            const [jobs, once] = [await app.queue("rtd-jobs").stats(), await app.queue("rtd-once").stats()];
            return jobs.depth + jobs.inFlight + jobs.delayed === 0 && once.deadLettered === 1;
          },
          30_000,
        );
        await app.idle();

        const attempts = new Map<string, number[]>();
        for (const key of await keys(app, "rtd-jobs/")) {
          const [, id, attempt] = key.split("/");
          attempts.set(id!, [...(attempts.get(id!) ?? []), Number(attempt)]);
        }
        for (const id of ids) {
          const got = (attempts.get(id) ?? []).sort((a, b) => a - b);
          expect([[1], [1, 2], [2]], id).toContainEqual(got);
        }
        expect(await app.queue("rtd-jobs").stats()).toEqual(zero);
        expect(await app.queue("rtd-jobs-dlq").stats()).toEqual(zero);
        expect(await app.queue("rtd-once").stats()).toEqual({ ...zero, deadLettered: 1 });
        expect(await app.queue("rtd-once-dlq").deadLettered()).toEqual([
          expect.objectContaining({ body: { id: "held", action: "slow", ms: 60_000 }, queue: "rtd-once", attempts: 1 }),
        ]);
      },
    },
    // A deploy of its own and a restart or kill: slow on docker.
    { timeout: 120_000 },
  );

  t.test(
    "§queues/durability/4 update: new settings keep the messages and apply from the next failure",
    {
      manual: async () => {
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
      real: async () => {
        // `rtd-settings` backs off 20 s, so the second delivery comes after the update.
        const id = uid("resettled");
        await t.app.queue("rtd-settings").send({ id, action: "fail-unless-fixed" });
        await waitFor(`${id} delivered`, async () => (await deliveries(t.app, id, "rtd-settings")).length === 1);
        const failedAt = (await delivery(t.app, id, 1, "rtd-settings")).at;
        await waitFor(`${id} backing off`, async () => {
          const { inFlight, delayed } = await stats("rtd-settings");
          return inFlight === 0 && delayed === 1;
        });

        const restore = await editApp(t.app, (source) =>
          source.replace(
            'app.queue<Job>("rtd-settings", {\n  visibilityTimeout: "3s",\n  delivery: { maxAttempts: 3,',
            'app.queue<Job>("rtd-settings", {\n  visibilityTimeout: "3s",\n  delivery: { maxAttempts: 2,',
          ),
        );
        try {
          expect(Date.now() - failedAt, "the update took longer than the back-off").toBeLessThan(settingsBackoff - 300);
          expect(await stats("rtd-settings")).toEqual({ ...zero, delayed: 1 });
          // The second delivery fails too; with maxAttempts now 2 it is the last.
          const deadAt = await seenAt(
            `${id} dead-lettered`,
            async () => (await stats("rtd-settings")).deadLettered === 1,
            settingsBackoff + late,
          );
          expectAbout(`${id} dead-lettered, after its first delivery`, deadAt - failedAt, settingsBackoff);
          expect(await deliveries(t.app, id, "rtd-settings")).toEqual([1, 2]);
          expect(await stats("rtd-settings")).toEqual({ ...zero, deadLettered: 1 });
        } finally {
          await restore();
        }
      },
    },
    { timeout: 120_000 },
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

  t.test("reset: empties every queue; a partial batch sent after it waits its full maxBatchWait", {
    manual: async () => {
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
    real: async () => {
      await t.app.queue("rtd-batched").send({ id: uid("old") });
      await t.app.queue("rtd-jobs").send({ id: uid("old") }, { delay: "1h" });
      // Most of the old batch's 2 s wait has passed when the reset comes.
      await sleep(1_500);
      await t.app.reset();
      expect(await stats("rtd-batched")).toEqual(zero);
      expect(await stats("rtd-jobs")).toEqual(zero);

      const id = uid("new");
      const sentAt = Date.now();
      await t.app.queue("rtd-batched").send({ id });
      const deliveredAt = await seenAt(`${id}'s batch`, async () => (await batches(t.app)).length > 0);
      expect(await batches(t.app)).toEqual([[id]]);
      expectAbout(`${id}'s batch, after its send`, deliveredAt - sentAt, 2_000);
    },
  });
});
