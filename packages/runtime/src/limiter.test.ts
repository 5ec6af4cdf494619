import { describe, expect, it } from "vitest";
import { Limiter } from "./limiter.ts";

describe("Limiter", () => {
  it("acquire: admits up to the limit, queues up to the queue limit, then refuses", async () => {
    const limiter = new Limiter(2, 1);
    const a = await limiter.acquire();
    const b = await limiter.acquire();
    let cGranted = false;
    const c = limiter.acquire().then((release) => {
      cGranted = true;
      return release;
    });
    expect(await limiter.acquire()).toBeUndefined();
    expect([limiter.active, limiter.waiting]).toEqual([2, 1]);
    await Promise.resolve();
    expect(cGranted).toBe(false);
    a?.();
    const releaseC = await c;
    expect(cGranted).toBe(true);
    expect([limiter.active, limiter.waiting]).toEqual([2, 0]);
    b?.();
    releaseC?.();
    releaseC?.();
    expect(limiter.active).toBe(0);
  });

  it("acquire: with always, waits past the queue limit instead of refusing", async () => {
    const limiter = new Limiter(1, 0);
    const first = await limiter.acquire();
    expect(await limiter.acquire()).toBeUndefined();
    const second = limiter.acquire(true);
    expect([limiter.active, limiter.waiting]).toEqual([1, 1]);
    first?.();
    const releaseSecond = await second;
    expect([limiter.active, limiter.waiting]).toEqual([1, 0]);
    releaseSecond?.();
    expect(limiter.active).toBe(0);
  });

  it("tryAcquire: a slot now or nothing, never a place in the queue", async () => {
    const limiter = new Limiter(1, 5);
    const first = limiter.tryAcquire();
    expect(first).toBeTypeOf("function");
    expect(limiter.tryAcquire()).toBeUndefined();
    expect([limiter.active, limiter.waiting]).toEqual([1, 0]);
    const waiter = limiter.acquire();
    first?.();
    // The freed slot went to the waiter, not to whoever tries next.
    expect(limiter.tryAcquire()).toBeUndefined();
    (await waiter)?.();
    expect(limiter.active).toBe(0);
    limiter.tryAcquire()?.();
    expect(limiter.active).toBe(0);
  });
});
