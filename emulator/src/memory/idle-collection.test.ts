import { getHeapStatistics } from "node:v8";
import { expect, test, vi } from "vitest";
import { collectWhenIdle } from "./idle-collection.ts";

const heap = () => getHeapStatistics().total_heap_size;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test("collectWhenIdle: the heap a burst grew is given back once the thread is quiet, and not while it is busy", async () => {
  const collections: { before: number; after: number }[] = [];
  const stop = collectWhenIdle({
    every: 100,
    growth: 8 * 1_048_576,
    collected: (before, after) => collections.push({ before, after }),
  });
  try {
    const before = heap();
    // A burst that leaves 100+ MB of garbage behind.
    let burst: unknown[] | undefined = [];
    for (let i = 0; i < 1_000_000; i++) burst.push({ i, text: `garbage ${i}` });
    burst = undefined;
    expect(heap()).toBeGreaterThan(before + 32 * 1_048_576);
    // Busy: the event loop never rests for a whole check, so nothing is collected.
    const until = Date.now() + 300;
    while (Date.now() < until) await new Promise((resolve) => setImmediate(resolve));
    expect(collections).toEqual([]);
    // Quiet: a check or two later the heap is back near where it was, in one collection.
    await vi.waitFor(() => expect(collections).toHaveLength(1), { timeout: 3_000, interval: 50 });
    await sleep(300);
    expect(collections).toHaveLength(1);
    expect(heap()).toBeLessThan(before + 16 * 1_048_576);
  } finally {
    stop();
  }
});
