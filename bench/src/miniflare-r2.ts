/**
 * Baseline for the bucket benchmark: Miniflare 4's R2 binding, persisted to disk, driven
 * by a Worker that runs the same loops as the Nimbus function (`apps/buckets/src/loops.ts`,
 * loaded into workerd with its types stripped). Miniflare runs workerd as a process of
 * its own, so this side shares no thread with the bench.
 */
import { readFile } from "node:fs/promises";
import { stripTypeScriptTypes } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Miniflare } from "miniflare";

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

export interface MiniflareR2 {
  /** POSTs `body` as JSON to the Worker's `path` and answers its JSON. */
  call<T>(path: string, body: unknown): Promise<T>;
  dispose(): Promise<void>;
}

/** Starts Miniflare with one R2 bucket, `BUCKET`, persisted under `persistDir`. */
export async function startMiniflareR2(persistDir: string): Promise<MiniflareR2> {
  const loops = stripTypeScriptTypes(await readFile(loopsPath, "utf8"));
  const mf = new Miniflare({
    modules: [
      { type: "ESModule", path: "/bench/worker.js", contents: worker },
      { type: "ESModule", path: "/bench/loops.js", contents: loops },
    ],
    modulesRoot: "/bench",
    // Streams constructed in JavaScript (the generated body) need a date past 2022-11-30.
    compatibilityDate: "2026-07-01",
    r2Buckets: ["BUCKET"],
    r2Persist: persistDir,
  });
  await mf.ready;
  return {
    async call<T>(path: string, body: unknown): Promise<T> {
      const response = await mf.dispatchFetch(`http://bench${path}`, { method: "POST", body: JSON.stringify(body) });
      const text = await response.text();
      if (!response.ok) throw new Error(`Miniflare's Worker failed on ${path}: ${text}`);
      return JSON.parse(text) as T;
    },
    dispose: () => mf.dispose(),
  };
}
