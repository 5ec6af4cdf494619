/**
 * Baseline for the bucket benchmark: Miniflare 4's R2 binding, persisted to disk, driven
 * by a Worker that runs the same loops as the Nimbus function (`apps/buckets/src/loops.ts`,
 * loaded into workerd with its types stripped). Miniflare runs workerd as a process of
 * its own, so this side shares no thread with the bench.
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { type MiniflareWorker, startLoopsWorker } from "./miniflare-loops.ts";

const loopsPath = join(dirname(fileURLToPath(import.meta.url)), "../apps/buckets/src/loops.ts");

const worker = `
import { runLarge, runSmall } from "./loops.js";

// workerd freezes Date.now() (and performance.now()) while JavaScript runs and moves it
// on only across I/O, against timing attacks. Every R2 call is I/O, so a reading after
// the last call counts the time of all of them; only the CPU time after the last await
// (a comparison and a division) goes uncounted.
const now = () => Date.now();

// R2's put takes a stream only when its length is known up front.
const sized = (stream, size) => {
  const fixed = new FixedLengthStream(size);
  stream.pipeTo(fixed.writable).catch(() => {});
  return fixed.readable;
};

export default {
  async fetch(request, env) {
    try {
      const body = await request.json();
      if (new URL(request.url).pathname === "/run") return Response.json(await runSmall(env.BUCKET, body, now));
      return Response.json(await runLarge(env.BUCKET, body, now, { sized }));
    } catch (error) {
      return Response.json({ error: String(error && error.stack || error) }, { status: 500 });
    }
  },
};
`;

export type MiniflareR2 = MiniflareWorker;

/** Starts Miniflare with one R2 bucket, `BUCKET`, persisted under `persistDir`. */
export function startMiniflareR2(persistDir: string): Promise<MiniflareR2> {
  return startLoopsWorker(worker, loopsPath, { r2Buckets: ["BUCKET"], r2Persist: persistDir });
}
