import { describe, expect, test } from "vitest";
import { backoffDelay } from "./backoff.ts";

const policy = { backoff: { initial: 1_000, max: 60_000 } };
/** The top of [0, 1): the largest delay a ceiling allows. */
const top = () => 1 - Number.EPSILON;
const bottom = () => 0;

describe("backoffDelay", () => {
  test("backoffDelay: the first retry waits exactly initial", () => {
    expect(backoffDelay(policy, 1, bottom)).toBe(1_000);
    expect(backoffDelay(policy, 1, top)).toBe(1_000);
  });

  test("backoffDelay: doubles the ceiling with each attempt until max", () => {
    const ceilings = [1, 2, 3, 4, 5, 6, 7, 8, 20].map((attempts) => backoffDelay(policy, attempts, top));
    expect(ceilings).toEqual([1_000, 2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });

  test("backoffDelay: keeps at least half the ceiling (equal jitter)", () => {
    const floors = [1, 2, 3, 4, 5, 6, 7, 8].map((attempts) => backoffDelay(policy, attempts, bottom));
    expect(floors).toEqual([1_000, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    expect(backoffDelay(policy, 3, () => 0.5)).toBe(3_000);
  });

  test("backoffDelay: stays within [initial, max] for any attempt count and random value", () => {
    const policies = [
      policy,
      { backoff: { initial: 1, max: 1 } },
      { backoff: { initial: 333, max: 1_000 } },
      { backoff: { initial: 43_200_000, max: 43_200_000 } },
      { backoff: { initial: 1, max: 43_200_000 } },
    ];
    for (const { backoff } of policies) {
      for (let attempts = 0; attempts <= 1_100; attempts++) {
        for (const value of [0, 0.25, 0.5, 0.999_999, 1 - Number.EPSILON]) {
          const delay = backoffDelay({ backoff }, attempts, () => value);
          expect(Number.isInteger(delay), `${JSON.stringify(backoff)} × ${attempts}`).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(backoff.initial);
          expect(delay).toBeLessThanOrEqual(backoff.max);
        }
      }
    }
  });

  test("backoffDelay: is 0 when initial is 0", () => {
    const none = { backoff: { initial: 0, max: 60_000 } };
    expect([1, 2, 10].map((attempts) => backoffDelay(none, attempts, top))).toEqual([0, 0, 0]);
  });

  test("backoffDelay: spreads retries across [ceiling / 2, ceiling]", () => {
    const delays = Array.from({ length: 2_000 }, () => backoffDelay(policy, 5, Math.random));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(8_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(16_000);
    expect(new Set(delays).size).toBeGreaterThan(1_000);
  });
});
