// Entry of every function worker: plain JavaScript, so a worker starts without type
// stripping. It waits for the function's bundle and settings, then loads the worker
// runtime (which captures the console first) and the handler's bundle, and hands the
// handler to the runtime. A worker can so be started before it is needed (a spare),
// and a reload only pays for loading the new code.

import { pathToFileURL } from "node:url";
import { parentPort } from "node:worker_threads";

// While it waits, a spare builds what every invocation uses (Request, Response, body
// streams), so the first request after a reload does not pay for it.
const warming = (async () => {
  for (let i = 0; i < 3; i++) {
    const request = new Request("http://warm.up/path", {
      method: "POST",
      headers: [["a", "b"]],
      body: "x",
      duplex: "half",
    });
    await request.text();
    const response = new Response("x", { headers: [["content-type", "text/plain"]] });
    const reader = response.body.getReader();
    while (!(await reader.read()).done) {}
    new AbortController().signal;
  }
})();

parentPort.once("message", async (message) => {
  await warming;
  globalThis.__nimbusWorkerData = message.data;
  try {
    const { serve } = await import(pathToFileURL(message.runtime).href);
    serve(await import(pathToFileURL(message.bundle).href));
  } catch (error) {
    parentPort.postMessage({
      type: "load-error",
      error: { name: error?.name ?? "Error", message: error?.message ?? String(error), stack: error?.stack },
    });
  }
});
