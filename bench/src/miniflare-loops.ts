import { readFile } from "node:fs/promises";
import { stripTypeScriptTypes } from "node:module";
import { Miniflare, type MiniflareOptions } from "miniflare";

/** A Worker in Miniflare, driven by JSON requests. */
export interface MiniflareWorker {
  /** Sends `body` (JSON, POST; GET when absent) to the Worker's `path` and answers its JSON. */
  call<T>(path: string, body?: unknown): Promise<T>;
  dispose(): Promise<void>;
}

/**
 * Starts Miniflare with a Worker (`worker`, an ES module importing `./loops.js`) beside
 * the same loops file the Nimbus side runs, its types stripped, plus the bindings in
 * `options`. Miniflare runs workerd as a process of its own, so a baseline shares no
 * thread with the bench.
 */
export async function startLoopsWorker(
  worker: string,
  loopsPath: string,
  options: Partial<MiniflareOptions>,
): Promise<MiniflareWorker> {
  const loops = stripTypeScriptTypes(await readFile(loopsPath, "utf8"));
  const mf = new Miniflare({
    modules: [
      { type: "ESModule", path: "/bench/worker.js", contents: worker },
      { type: "ESModule", path: "/bench/loops.js", contents: loops },
    ],
    modulesRoot: "/bench",
    // Streams constructed in JavaScript (a generated body) need a date past 2022-11-30.
    compatibilityDate: "2026-07-01",
    ...options,
  } as MiniflareOptions);
  await mf.ready;
  return {
    async call<T>(path: string, body?: unknown): Promise<T> {
      const init = body === undefined ? { method: "GET" } : { method: "POST", body: JSON.stringify(body) };
      const response = await mf.dispatchFetch(`http://bench${path}`, init);
      const text = await response.text();
      if (!response.ok) throw new Error(`Miniflare's Worker failed on ${path}: ${text}`);
      return text ? (JSON.parse(text) as T) : (undefined as T);
    },
    dispose: () => mf.dispose(),
  };
}
