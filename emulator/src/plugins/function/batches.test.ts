import { MessageChannel } from "node:worker_threads";
import { describe, expect, it } from "vitest";
import { Batches, eachMessage } from "./batches.ts";

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

describe("Batches", () => {
  it("sends what one turn posted as one message, in order, and nothing when nothing was posted", async () => {
    const sent: number[][] = [];
    const batches = new Batches<number>((batch) => sent.push(batch));
    batches.post(1);
    batches.post(2);
    batches.post(3);
    expect(sent).toEqual([]);
    await nextTurn();
    batches.post(4);
    await nextTurn();
    await nextTurn();
    expect(sent).toEqual([[1, 2, 3], [4]]);
  });

  it("now: sends at once, after what was queued", async () => {
    const sent: string[][] = [];
    const batches = new Batches<string>((batch) => sent.push(batch));
    batches.post("response");
    batches.now("log");
    expect(sent).toEqual([["response", "log"]]);
    await nextTurn();
    expect(sent).toHaveLength(1);
  });

  it("across a real port: one message event per batch, and transferred buffers move", async () => {
    const { port1, port2 } = new MessageChannel();
    const received: unknown[] = [];
    const events: number[] = [];
    port2.on("message", (data) => {
      events.push(Array.isArray(data) ? data.length : 1);
      eachMessage(data, (message) => received.push(message));
    });
    const batches = new Batches<unknown>((batch, transfer) => port1.postMessage(batch, transfer));
    const bytes = new Uint8Array([1, 2, 3]);
    batches.post({ id: 1 });
    batches.post({ id: 2, bytes }, [bytes.buffer]);
    batches.post({ id: 3 });
    expect(bytes.byteLength).toBe(3);
    await nextTurn();
    expect(bytes.byteLength).toBe(0);
    port1.postMessage({ id: 4 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events).toEqual([3, 1]);
    expect(received).toEqual([{ id: 1 }, { id: 2, bytes: new Uint8Array([1, 2, 3]) }, { id: 3 }, { id: 4 }]);
    port1.close();
  });
});
