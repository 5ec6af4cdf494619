/**
 * Baseline for the queue benchmark: Miniflare 4's queues (in memory), one Worker both
 * producing and consuming, running the same loops as the Nimbus functions
 * (`apps/queues/src/loops.ts`, loaded into workerd with its types stripped). Miniflare runs
 * workerd as a process of its own, so this side shares no thread with the bench.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type MiniflareWorker, startLoopsWorker } from "./miniflare-loops.ts";

const loopsPath = join(dirname(fileURLToPath(import.meta.url)), "../apps/queues/src/loops.ts");

/**
 * The consumer's `maxBatchTimeout`, in seconds: Miniflare's smallest (its schema takes 0 to
 * 60). Its default, 1 s, holds a partial batch that long before delivering it.
 */
export const miniflareBatchTimeout = 0;

const worker = `
import { runSends, Sink } from "./loops.js";

// workerd freezes Date.now() while JavaScript runs and moves it on only across I/O, against
// timing attacks, and to whole milliseconds. Every send is I/O, and a queue handler starts
// a new event, so the readings the loops take are current, to the millisecond.
const now = () => Date.now();
const state = new Sink();

export default {
  async fetch(request, env) {
    try {
      const path = new URL(request.url).pathname;
      if (path === "/stats") return Response.json(state.stats());
      if (path === "/reset") {
        state.reset();
        return new Response(null, { status: 204 });
      }
      const body = await request.json();
      if (path === "/run") return Response.json(await runSends(env.QUEUE, body, now));
      // "/wait": until the consumer has handled body.count messages. A timer in the isolate,
      // so the wait puts no requests through workerd while the consumer runs.
      const deadline = Date.now() + 60_000;
      while (state.stats().count < body.count) {
        if (Date.now() > deadline) throw new Error("the consumer handled " + state.stats().count + " of " + body.count + " in 60 s");
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      return Response.json(state.stats());
    } catch (error) {
      return Response.json({ error: String(error && error.stack || error) }, { status: 500 });
    }
  },
  queue(batch) {
    state.record(batch.messages, now(), now);
  },
};
`;

export type MiniflareQueues = MiniflareWorker;

/** Starts Miniflare with queue `bench`, bound as `QUEUE` and consumed by the same Worker. */
export function startMiniflareQueues(): Promise<MiniflareQueues> {
  return startLoopsWorker(worker, loopsPath, {
    queueProducers: { QUEUE: { queueName: "bench" } },
    queueConsumers: { bench: { maxBatchSize: 100, maxBatchTimeout: miniflareBatchTimeout } },
  });
}
