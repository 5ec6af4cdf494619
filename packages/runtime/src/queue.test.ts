import { describe, expect, it } from "vitest";
import { type Delay, type OutgoingMessage, queueClient } from "./queue.ts";

/** A transport that keeps what each send carried. */
function recording() {
  const sends: OutgoingMessage[][] = [];
  const client = queueClient("orders", {
    send: async (messages) => {
      sends.push(messages);
    },
  });
  return { client, sends };
}

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("queueClient", () => {
  it("send: a JSON body travels as the UTF-8 of its JSON text, bytes as exactly the bytes sent (§limits/2)", async () => {
    const { client, sends } = recording();
    await client.send({ id: 1, name: "café" });
    const whole = new Uint8Array([9, 1, 2, 3, 9]);
    await client.send(whole.subarray(1, 4));
    await client.send(new Uint8Array([7, 8]).buffer);

    expect(sends[0]).toEqual([{ format: "json", body: expect.any(Uint8Array), delay: undefined }]);
    expect(text(sends[0]![0]!.body)).toBe('{"id":1,"name":"café"}');
    const bytes = sends[1]![0]!.body;
    expect([...bytes]).toEqual([1, 2, 3]);
    // Only the message's bytes travel, not the rest of the view's buffer.
    expect(bytes.buffer.byteLength).toBe(3);
    expect(sends[2]).toEqual([{ format: "bytes", body: new Uint8Array([7, 8]), delay: undefined }]);
  });

  it("send: a body with no JSON form rejects with NIMBUS_QUEUE_BODY naming the queue and message, and sends nothing (§limits/3)", async () => {
    const { client, sends } = recording();
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;

    // A rejected promise, not a throw: the caller's await sees it.
    const sending = client.sendBatch([{ body: 1 }, { body: () => 1 }]);
    await expect(sending).rejects.toMatchObject({
      code: "NIMBUS_QUEUE_BODY",
      message: expect.stringContaining('queue "orders": message 2 is function, which has no JSON form'),
    });
    await expect(client.send(cycle)).rejects.toThrow(/queue "orders": message 1 cannot be sent as JSON: .*circular/i);
    await expect(client.send(undefined)).rejects.toThrow(/message 1 is undefined/);
    expect(sends).toEqual([]);
  });

  it("send: a delay is a duration or seconds, carried in ms (§delays/2)", async () => {
    const { client, sends } = recording();
    await client.sendBatch([
      { body: "a", delay: "30s" },
      { body: "b", delay: 2 },
      { body: "c", delay: "12h" },
      { body: "d" },
    ]);
    expect(sends[0]!.map((message) => message.delay)).toEqual([30_000, 2_000, 12 * 3_600_000, undefined]);
  });

  it("send: a delay out of 0s to 12h, or not a duration, rejects with NIMBUS_QUEUE_DELAY naming the message (§delays/2)", async () => {
    const { client, sends } = recording();
    for (const delay of ["13h", -1, "soon", Number.NaN] as Delay[]) {
      await expect(client.sendBatch([{ body: 1 }, { body: 2, delay }])).rejects.toMatchObject({
        code: "NIMBUS_QUEUE_DELAY",
        message: expect.stringContaining('queue "orders": message 2: a delay must be a duration from 0s to 12h'),
      });
    }
    expect(sends).toEqual([]);
  });
});
