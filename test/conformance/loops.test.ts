// docs/semantics.md, "Recursive loops", on every target. The fixture's functions trigger
// themselves: `resize` writes into the bucket it is notified of, `echo` sends to the queue
// it consumes. Each records a round by a key (`loop/<n>` in `uploads`, `jobs/<n>` in
// `results`), so a test counts the rounds that ran by listing a bucket.
import { loopLimits } from "@nimbus/core";
import { expect } from "vitest";
import { conformance, type DeployedApp, fixture } from "./conformance.ts";

/** The `<n>` of every key under `prefix`, in numeric order. */
async function rounds(app: DeployedApp, bucket: string, prefix: string): Promise<number[]> {
  const keys: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await app.bucket(bucket).list({ prefix, ...(cursor ? { cursor } : {}) });
    keys.push(...page.objects.map((object) => object.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys.map((key) => Number(key.slice(prefix.length))).sort((a, b) => a - b);
}

const upTo = (last: number) => Array.from({ length: last + 1 }, (_, n) => n);

conformance("recursive loops", { app: fixture("loops") }, (target) => {
  target.test(
    "§loops/2 notify: a function writing into the bucket it is notified of runs 16 times, then the chain stops",
    async () => {
      const app = target.app;
      // Written from outside: no invocation made it, so resize's first run is the chain's first.
      await app.bucket("uploads").put("loop/0", "from outside");
      await app.idle();
      // Runs 1 to 16 wrote loop/1 to loop/16; the event of loop/16 would have started the 17th.
      expect(loopLimits.maxDepth).toBe(16);
      expect(await rounds(app, "uploads", "loop/")).toEqual(upTo(16));
      // Nothing runs after the stop.
      await app.idle();
      expect(await rounds(app, "uploads", "loop/")).toEqual(upTo(16));
    },
  );

  target.test(
    "§loops/3 notify: the stopped event goes to the bus's dead-letter queue, its last error naming the loop",
    async () => {
      const app = target.app;
      await app.bucket("uploads").put("loop/0", "from outside");
      await app.idle();
      const dead = await app.queue("files-dlq").deadLettered();
      expect(dead).toHaveLength(1);
      expect((dead[0]!.body as { detail: { object: { key: string } } }).detail.object.key).toBe("loop/16");
      expect(dead[0]!.queue).toBe("files/resize → function resize");
      expect(dead[0]!.attempts).toBe(1);
      expect(dead[0]!.lastError).toContain(
        'function "resize" → bucket "uploads" → bus "files" → rule files/resize → function "resize"',
      );
      expect(dead[0]!.lastError).toContain("recursive loop stopped");
    },
  );

  target.test("§loops/2 queue: a consumer sending to its own queue runs 16 times, then the chain stops", async () => {
    const app = target.app;
    await app.queue("jobs").send({ n: 0 });
    await app.idle();
    // Runs 1 to 16 handled jobs 0 to 15; job 16 would have started the 17th.
    expect(await rounds(app, "results", "jobs/")).toEqual(upTo(15));
    await app.idle();
    expect(await rounds(app, "results", "jobs/")).toEqual(upTo(15));
  });

  target.test("§loops/3 queue: a stopped message of a queue without a dead-letter queue is dropped", async () => {
    const app = target.app;
    await app.queue("jobs").send({ n: 0 });
    await app.idle();
    expect(await app.queue("jobs").stats()).toEqual({ depth: 0, inFlight: 0, delayed: 0, deadLettered: 0 });
  });

  target.test("§loops/1 fetch: a request's invocation is the first of its chain", async () => {
    const app = target.app;
    const response = await app.fetch("/start", { method: "POST" });
    expect(response.status).toBe(204);
    await app.idle();
    // The request was run 1, so resize ran 15 times: loop/1 to loop/15.
    expect(await rounds(app, "uploads", "loop/")).toEqual(upTo(15));
  });

  target.test("§loops/6 redrive: a stopped event redriven after the loop starts a new chain", async () => {
    const app = target.app;
    await app.bucket("uploads").put("loop/0", "from outside");
    await app.idle();
    expect(await app.queue("files-dlq").redrive()).toEqual({ "files/resize → function resize": 1 });
    await app.idle();
    // The event of loop/16 came back at depth 1: 16 more runs wrote loop/17 to loop/32.
    expect(await rounds(app, "uploads", "loop/")).toEqual(upTo(32));
  });
});
