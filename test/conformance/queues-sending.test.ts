// docs/semantics.md "Queues": every method of the queue binding with its errors (bodies,
// delays, sizes, schemas, the batch limit), through a function's binding (test/fixtures/
// queues' `sender` routes) and through the target's queue handle; settings' limits; retention.
import { NimbusError } from "@nimbus/core";
import { expect } from "vitest";
import { uniqueNames, noMessages as zero } from "../support/suite.ts";
import { conformance, editApp, fixture } from "./conformance.ts";
import { deliveries, echoed, gatedKeys, keys, open } from "./queues-records.ts";
import { expectAbout, sleep, waitFor } from "./real-time.ts";

const uid = uniqueNames();
/** Retention's least is 1 m: a real-clock form waits it out once. */
const retained = { timeout: 90_000 } as const;
const limit = 256 * 1024;

/** What a handle's call failed with, or "resolved". */
async function failure(call: () => Promise<unknown>): Promise<{ is: boolean; code?: string; message: string }> {
  try {
    await call();
  } catch (error) {
    const { code, message } = error as NimbusError;
    return { is: NimbusError.is(error), code, message };
  }
  return { is: false, message: "resolved" };
}

/** What a `sender` route answered: 202, or 400 with the binding's error and how it came. */
async function answered(
  response: Response,
): Promise<{ status: number; code?: string; message?: string; how?: string }> {
  if (response.status === 202) return { status: 202 };
  const { error } = (await response.json()) as { error: { code: string; message: string; how: string } };
  return { status: response.status, ...error };
}

conformance("queues: sending", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();
  const post = async (path: string, body?: unknown) =>
    answered(await t.app.fetch(path, { method: "POST", body: body === undefined ? undefined : JSON.stringify(body) }));

  t.test(
    "§queues/delays/2 send: a delay outside 0s to 12h is refused with NIMBUS_QUEUE_DELAY naming the queue and the message; nothing is stored",
    async () => {
      for (const delay of ["13h", -1, "soon", 43_201]) {
        expect(
          await failure(() => t.app.queue("jobs").send({ id: uid("bad-delay") }, { delay: delay as never })),
          String(delay),
        ).toEqual({
          is: true,
          code: "NIMBUS_QUEUE_DELAY",
          message: expect.stringMatching(/^queue "jobs": message 1: a delay must be a duration from 0s to 12h/),
        });
      }
      expect(
        await failure(() =>
          t.app
            .queue("jobs")
            .sendBatch([{ body: { id: uid("fine") } }, { body: { id: uid("bad") }, delay: "1y" as never }]),
        ),
      ).toMatchObject({ code: "NIMBUS_QUEUE_DELAY", message: expect.stringMatching(/^queue "jobs": message 2: /) });
      await t.app.idle();
      expect(await stats("jobs")).toEqual(zero);
      expect(await keys(t.app, "deliveries/")).toEqual([]);
    },
  );

  t.test(
    "§queues/delays/2 send: a binding's delay that is not a number is refused with a rejected promise, naming the value",
    async () => {
      expect(await post("/send?delay=soon", { id: uid("nan") })).toEqual({
        status: 400,
        how: "rejected",
        code: "NIMBUS_QUEUE_DELAY",
        message: expect.stringMatching(
          /^queue "jobs": message 1: a delay must be a duration from 0s to 12h.*found NaN$/,
        ),
      });
      expect(await stats("jobs")).toEqual(zero);
    },
  );

  t.test(
    "§queues/limits/4 send: a message over maxMessageSize (default 256 KiB) is refused naming the queue, its size and the limit, through a binding and the handle",
    async () => {
      const body = { id: uid("big"), pad: "x".repeat(limit) };
      const size = JSON.stringify(body).length;
      const expected = `queue "jobs": message 1 is ${size.toLocaleString("en")} bytes; the queue's maxMessageSize is 262,144. Store large payloads in a bucket and send the key.`;
      expect(await failure(() => t.app.queue("jobs").send(body))).toEqual({
        is: true,
        code: "NIMBUS_QUEUE_MESSAGE_TOO_LARGE",
        message: expected,
      });
      expect(await post("/send", body)).toEqual({
        status: 400,
        how: "rejected",
        code: "NIMBUS_QUEUE_MESSAGE_TOO_LARGE",
        message: expected,
      });
      expect(await stats("jobs")).toEqual(zero);
    },
  );

  t.test("§queues/limits/4 send: a body of exactly maxMessageSize is accepted, one byte more is refused", async () => {
    await t.app.queue("raw").send(new Uint8Array(1024));
    expect(await failure(() => t.app.queue("raw").send(new Uint8Array(1025)))).toEqual({
      is: true,
      code: "NIMBUS_QUEUE_MESSAGE_TOO_LARGE",
      message: expect.stringMatching(/^queue "raw": message 1 is 1,025 bytes; the queue's maxMessageSize is 1,024\./),
    });
    await t.app.idle();
    expect((await echoed(t.app)).map((e) => (e.body as number[]).length)).toEqual([1024]);
  });

  t.test("§queues/limits/2 send: a JSON body's size is the UTF-8 length of its JSON text", async () => {
    // "é" is two bytes: 511 of them and two quotes make 1,024 bytes from a 513-character text.
    await t.app.queue("raw").send("é".repeat(511));
    expect(await failure(() => t.app.queue("raw").send("é".repeat(512)))).toMatchObject({
      message: expect.stringMatching(/^queue "raw": message 1 is 1,026 bytes;/),
    });
    const binding = await post("/send?queue=raw", "é".repeat(512));
    expect(binding).toMatchObject({
      status: 400,
      message: expect.stringMatching(/^queue "raw": message 1 is 1,026 bytes;/),
    });
    await t.app.idle();
    expect((await echoed(t.app)).map((e) => e.body)).toEqual(["é".repeat(511)]);
  });

  t.test(
    "§queues/limits/6-7 sendBatch: takes 100 messages and refuses 101 with NIMBUS_QUEUE_BATCH, storing none of them, through the handle and a binding",
    async () => {
      const batch = (n: number) =>
        Array.from({ length: n }, () => ({ body: { id: uid("many"), action: "leave" as const } }));
      const refused = `queue "jobs": sendBatch takes at most 100 messages; found 101. Send in batches of 100.`;
      expect(await failure(() => t.app.queue("jobs").sendBatch(batch(101)))).toEqual({
        is: true,
        code: "NIMBUS_QUEUE_BATCH",
        message: refused,
      });
      expect(
        await post(
          "/send-batch",
          batch(101).map((m) => m.body),
        ),
      ).toEqual({
        status: 400,
        how: "rejected",
        code: "NIMBUS_QUEUE_BATCH",
        message: refused,
      });
      expect(await stats("jobs")).toEqual(zero);

      await t.app.queue("jobs").sendBatch(batch(100));
      expect(
        await post(
          "/send-batch",
          batch(100).map((m) => m.body),
        ),
      ).toEqual({ status: 202 });
      await t.app.idle();
      expect(await keys(t.app, "deliveries/")).toHaveLength(200);
    },
  );

  t.test("§queues/limits/7 sendBatch: one message too large refuses the whole batch", async () => {
    const ok = uid("ok");
    expect(
      await failure(() =>
        t.app.queue("jobs").sendBatch([{ body: { id: ok } }, { body: { id: uid("big"), pad: "x".repeat(limit) } }]),
      ),
    ).toMatchObject({
      code: "NIMBUS_QUEUE_MESSAGE_TOO_LARGE",
      message: expect.stringMatching(/^queue "jobs": message 2 is /),
    });
    expect(await post("/send-batch", [{ id: uid("ok") }, { id: uid("big"), pad: "x".repeat(limit) }])).toMatchObject({
      status: 400,
      code: "NIMBUS_QUEUE_MESSAGE_TOO_LARGE",
    });
    await t.app.idle();
    expect(await deliveries(t.app, ok)).toEqual([]);
    expect(await stats("jobs")).toEqual(zero);
  });

  t.test(
    "§queues/limits/3 send: a binding's body with no JSON form fails with a rejected promise and NIMBUS_QUEUE_BODY, saying why",
    async () => {
      const cases: [string, RegExp][] = [
        [
          "function",
          /^queue "raw": message 1 is function, which has no JSON form\. Send JSON-serialisable data or bytes\.$/,
        ],
        ["undefined", /^queue "raw": message 1 is undefined, which has no JSON form/],
        ["symbol", /^queue "raw": message 1 is symbol, which has no JSON form/],
        ["bigint", /^queue "raw": message 1 cannot be sent as JSON: .*BigInt/],
        ["cycle", /^queue "raw": message 1 cannot be sent as JSON: .*circular/i],
      ];
      for (const [kind, message] of cases) {
        expect(await post(`/send-odd?queue=raw&kind=${kind}`), kind).toEqual({
          status: 400,
          how: "rejected",
          code: "NIMBUS_QUEUE_BODY",
          message: expect.stringMatching(message),
        });
      }
      expect(await stats("raw")).toEqual(zero);
    },
  );

  t.test(
    "§queues/limits/3 send, sendBatch: the handle refuses a body with no JSON form with NIMBUS_QUEUE_BODY; a batch with one stores nothing",
    async () => {
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      for (const body of [undefined, 10n, circular]) {
        expect(await failure(() => t.app.queue("raw").send(body)), String(body)).toMatchObject({
          is: true,
          code: "NIMBUS_QUEUE_BODY",
          message: expect.stringMatching(/^queue "raw": message 1 /),
        });
      }
      expect(await failure(() => t.app.queue("raw").sendBatch([{ body: 1 }, { body: 10n }]))).toMatchObject({
        code: "NIMBUS_QUEUE_BODY",
        message: expect.stringMatching(/^queue "raw": message 2 cannot be sent as JSON/),
      });
      expect(await stats("raw")).toEqual(zero);
    },
  );

  t.test(
    "§queues/delivery/6 §queues/limits/2 send: bytes round-trip as a Uint8Array (a view's own range, an ArrayBuffer), JSON as JSON, through the handle and a binding",
    async () => {
      const backing = new Uint8Array([9, 9, 0, 1, 127, 128, 255, 9]);
      await t.app.queue("raw").send(backing.subarray(2, 7));
      await t.app.queue("raw").send(new Uint8Array([1, 2, 3]).buffer);
      await t.app.queue("raw").send("plain text");
      await t.app.queue("raw").send(null);
      expect(await post("/send-odd?queue=raw&kind=bytes")).toEqual({ status: 202 });
      expect(await post("/send-odd?queue=raw&kind=array-buffer")).toEqual({ status: 202 });
      await t.app.idle();
      const got = (await echoed(t.app)).map(({ type, body }) => ({ type, body }));
      expect(got).toHaveLength(6);
      expect(got).toEqual(
        expect.arrayContaining([
          { type: "Uint8Array", body: [0, 1, 127, 128, 255] },
          { type: "Uint8Array", body: [1, 2, 3] },
          { type: "string", body: "plain text" },
          { type: "object", body: null },
        ]),
      );
      expect(got.filter((e) => e.type === "Uint8Array").map((e) => e.body)).toEqual(
        expect.arrayContaining([
          [0, 1, 127, 128, 255],
          [0, 1, 127, 128, 255],
          [1, 2, 3],
          [1, 2, 3],
        ]),
      );
    },
  );

  t.test(
    "§queues/limits/5 send: a queue's schema refuses a JSON body that does not match with NIMBUS_QUEUE_SCHEMA; bytes are not checked",
    async () => {
      await t.app.queue("typed").send({ id: "fine" });
      const mismatch = /^queue "typed": message 1 does not match the queue's schema \(id: /;
      expect(await failure(() => t.app.queue("typed").send({ id: 1 }))).toEqual({
        is: true,
        code: "NIMBUS_QUEUE_SCHEMA",
        message: expect.stringMatching(mismatch),
      });
      expect(await post("/send?queue=typed", { id: 1 })).toEqual({
        status: 400,
        how: "rejected",
        code: "NIMBUS_QUEUE_SCHEMA",
        message: expect.stringMatching(mismatch),
      });
      expect(await post("/send-batch?queue=typed", [{ id: "ok" }, { id: 2 }])).toMatchObject({
        status: 400,
        code: "NIMBUS_QUEUE_SCHEMA",
        message: expect.stringMatching(/^queue "typed": message 2 does not match/),
      });
      await t.app.queue("typed").send(new Uint8Array([1, 2]));
      expect(await post("/send?queue=typed", { id: "also fine" })).toEqual({ status: 202 });
      expect(await stats("typed")).toEqual({ ...zero, depth: 3 });
    },
  );
});

conformance("queues: settings", { app: fixture("queues"), manualClock: true }, (t) => {
  t.test(
    "§queues/limits/1 §queues/delivery/2 update: a setting outside its limits, or a second consumer, fails naming the queue and the setting; the last good app keeps serving",
    async () => {
      await expect(
        editApp(t.app, (source) => source.replace("delivery: { maxAttempts: 1 }", "delivery: { maxAttempts: 0 }")),
      ).rejects.toThrow(/queue "once", delivery\.maxAttempts: .*1/);
      await expect(
        editApp(t.app, (source) =>
          source.replace("export default app;", "jobs.subscribe(collector);\n\nexport default app;"),
        ),
      ).rejects.toThrow(/queue "jobs".*one consumer/);
      const id = uid("still");
      await t.app.queue("jobs").send({ id });
      await t.app.idle();
      expect(await deliveries(t.app, id)).toEqual([1]);
    },
  );
});

conformance("queues: retention", { app: fixture("queues"), manualClock: true }, (t) => {
  const stats = (queue: string) => t.app.queue(queue).stats();

  t.test(
    "§queues/retention/1 retention: a message is dropped once retention has passed since its first send, delayed or not",
    {
      manual: async () => {
        const [delayed, parked] = [uid("too-late"), uid("parked")];
        // `brief` keeps messages one minute; this one would be deliverable only after two.
        await t.app.queue("brief").send({ id: delayed }, { delay: "2m" });
        await t.app.queue("typed").send({ id: parked });
        await t.app.advance(59_999);
        expect(await stats("brief")).toEqual({ ...zero, delayed: 1 });
        await t.app.advance(1);
        expect(await stats("brief")).toEqual(zero);
        await t.app.advance("2m");
        expect(await deliveries(t.app, delayed, "brief")).toEqual([]);

        // `typed` keeps them the default 4 days, also without a consumer.
        await t.app.advance(4 * 86_400_000 - 180_001);
        expect(await stats("typed")).toEqual({ ...zero, depth: 1 });
        await t.app.advance(1);
        expect(await stats("typed")).toEqual(zero);
      },
      real: async () => {
        const [delayed, parked] = [uid("too-late"), uid("parked")];
        const sentAt = Date.now();
        // `brief` keeps messages one minute, the least retention allows; this one would be deliverable only after two.
        await t.app.queue("brief").send({ id: delayed }, { delay: "2m" });
        await t.app.queue("typed").send({ id: parked });
        await sleep(sentAt + 59_000 - Date.now());
        expect(await stats("brief")).toEqual({ ...zero, delayed: 1 });
        await waitFor("the drop", async () => (await stats("brief")).delayed === 0, 5_000);
        expectAbout("the drop after the send", Date.now() - sentAt, 60_000);
        expect(await stats("brief")).toEqual(zero);
        expect(await deliveries(t.app, delayed, "brief")).toEqual([]);

        // `typed` keeps them the default 4 days, also without a consumer: still there.
        expect(await stats("typed")).toEqual({ ...zero, depth: 1 });
      },
    },
    retained,
  );

  t.test(
    "§queues/retention/1 retention: a message in flight is dropped too, and the late outcome of its delivery is ignored",
    {
      manual: async () => {
        const id = uid("fleeting");
        await t.app.queue("fleeting").send({ id });
        expect(await stats("fleeting")).toEqual({ ...zero, inFlight: 1 });
        await t.app.advance("1m");
        expect(await stats("fleeting")).toEqual(zero);

        await open(t.app, id);
        await t.app.idle();
        await t.app.advance("5m");
        expect(await stats("fleeting")).toEqual(zero);
        expect(await gatedKeys(t.app, id)).toEqual([`gated/${id}/1`]);
      },
      real: async () => {
        const id = uid("fleeting");
        const sentAt = Date.now();
        // `rt-patient` holds it past `rt-fleeting`'s retention (1 m), within its own 90 s timeout.
        await t.app.queue("rt-fleeting").send({ id });
        await waitFor("the delivery", async () => (await gatedKeys(t.app, id)).length > 0);
        await sleep(sentAt + 59_000 - Date.now());
        expect(await stats("rt-fleeting")).toEqual({ ...zero, inFlight: 1 });
        await waitFor("the drop", async () => (await stats("rt-fleeting")).inFlight === 0, 5_000);
        expectAbout("the drop after the send", Date.now() - sentAt, 60_000);
        expect(await stats("rt-fleeting")).toEqual(zero);

        const response = await t.app.fetch(`/rt-open?id=${encodeURIComponent(id)}`, { method: "POST" });
        expect(response.status).toBe(200);
        await t.app.idle();
        expect(await stats("rt-fleeting")).toEqual(zero);
        expect(await gatedKeys(t.app, id)).toEqual([`gated/${id}/1`]);
      },
    },
    retained,
  );

  t.test(
    "§queues/retention/2 retention: in a dead-letter queue it counts from the first send to the queue the message died in",
    {
      manual: async () => {
        const id = uid("old");
        const sentAt = await t.app.now();
        await t.app.queue("jobs").send({ id, action: "throw" });
        await t.app.idle();
        await t.app.advance("1m");
        expect(await stats("jobs-dlq")).toEqual({ ...zero, depth: 1 });
        await t.app.advance(sentAt + 4 * 86_400_000 - 1 - (await t.app.now()));
        expect(await stats("jobs-dlq")).toEqual({ ...zero, depth: 1 });
        await t.app.advance(1);
        expect(await stats("jobs-dlq")).toEqual(zero);
      },
      real: async () => {
        const id = uid("old");
        const sentAt = Date.now();
        // It dies in `rt-doomed` about 10 s after its send; its dead-letter queue `rt-graveyard` keeps messages 1 m.
        await t.app.queue("rt-doomed").send({ id, action: "throw" }, { delay: "10s" });
        await waitFor("the dead letter", async () => (await stats("rt-graveyard")).depth === 1, 20_000);
        expectAbout("the dead-lettering after the send", Date.now() - sentAt, 10_000);
        await sleep(sentAt + 59_000 - Date.now());
        expect(await stats("rt-graveyard")).toEqual({ ...zero, depth: 1 });
        await waitFor("the drop", async () => (await stats("rt-graveyard")).depth === 0, 5_000);
        // Counted from the dead-lettering it would be about 70 s.
        expectAbout("the drop after the first send", Date.now() - sentAt, 60_000);
      },
    },
    retained,
  );
});
