import { describe, expect, test } from "vitest";
import { type DeliveryPolicy, decideDelivery } from "./decide.ts";

const policy: DeliveryPolicy = { maxAttempts: 3, backoff: { initial: 1_000, max: 60_000 }, deadLetter: "jobs-dlq" };
const dropping: DeliveryPolicy = { ...policy, deadLetter: null };
const top = () => 1 - Number.EPSILON;
const bottom = () => 0;
const failed = { type: "retry", error: "boom" } as const;

describe("decideDelivery", () => {
  test("decideDelivery: an ack is an ack, whatever the attempts (§queues/success/1)", () => {
    expect(decideDelivery(policy, 1, { type: "ack" })).toEqual({ action: "ack" });
    expect(decideDelivery(policy, 99, { type: "ack" })).toEqual({ action: "ack" });
  });

  test("decideDelivery: a failure before maxAttempts is retried after the back-off, the first exactly initial (§queues/redelivery/2)", () => {
    expect(decideDelivery(policy, 1, failed, top)).toEqual({ action: "retry", after: 1_000, error: "boom" });
    expect(decideDelivery(policy, 2, failed, bottom)).toEqual({ action: "retry", after: 1_000, error: "boom" });
    expect(decideDelivery(policy, 2, failed, top)).toEqual({ action: "retry", after: 2_000, error: "boom" });
  });

  test("decideDelivery: the back-off stays within [max(initial, b / 2), b], b = min(max, initial × 2^(n − 1)) (§queues/redelivery/2)", () => {
    const many: DeliveryPolicy = { ...policy, maxAttempts: 1_000 };
    for (let n = 1; n < 40; n++) {
      const b = Math.min(60_000, 1_000 * 2 ** (n - 1));
      for (const value of [0, 0.3, 0.7, 1 - Number.EPSILON]) {
        const decision = decideDelivery(many, n, failed, () => value);
        if (decision.action !== "retry") throw new Error(`expected a retry, got ${decision.action}`);
        expect(decision.after).toBeGreaterThanOrEqual(Math.max(1_000, b / 2));
        expect(decision.after).toBeLessThanOrEqual(b);
      }
    }
  });

  test("decideDelivery: retry with a delay waits exactly that delay, 0 included (§queues/redelivery/3)", () => {
    expect(decideDelivery(policy, 1, { ...failed, delay: 5_000 }, top)).toEqual({
      action: "retry",
      after: 5_000,
      error: "boom",
    });
    expect(decideDelivery(policy, 2, { ...failed, delay: 0 }, top)).toMatchObject({ action: "retry", after: 0 });
  });

  test("decideDelivery: with initial 0s a retry waits nothing (§queues/redelivery/2)", () => {
    const none = { ...policy, backoff: { initial: 0, max: 60_000 } };
    expect(decideDelivery(none, 2, failed, top)).toMatchObject({ action: "retry", after: 0 });
  });

  test("decideDelivery: the failure of delivery maxAttempts moves the message to the dead-letter queue, also with a delay (§queues/redelivery/4)", () => {
    expect(decideDelivery(policy, 3, failed)).toEqual({ action: "dead-letter", queue: "jobs-dlq", error: "boom" });
    expect(decideDelivery(policy, 4, { ...failed, delay: 0 })).toEqual({
      action: "dead-letter",
      queue: "jobs-dlq",
      error: "boom",
    });
  });

  test("decideDelivery: without a dead-letter queue such a message is dropped (§queues/redelivery/6)", () => {
    expect(decideDelivery(dropping, 3, failed)).toEqual({ action: "drop", error: "boom" });
  });

  test("decideDelivery: a final refusal is never retried, on the first attempt too (§bus/retries/3)", () => {
    expect(decideDelivery(policy, 1, { ...failed, final: true })).toEqual({
      action: "dead-letter",
      queue: "jobs-dlq",
      error: "boom",
    });
    expect(decideDelivery(dropping, 1, { ...failed, final: true, delay: 0 })).toEqual({
      action: "drop",
      error: "boom",
    });
  });
});
