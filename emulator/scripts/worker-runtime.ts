// Part of the package's build: the worker runtime every function's worker loads, built
// once here so that a published emulator never builds it at start (worker-runtime.ts).
import { fileURLToPath } from "node:url";
import { buildWorkerRuntime } from "../dist/plugins/function/worker-runtime.js";

await buildWorkerRuntime(fileURLToPath(new URL("../dist/plugins/function/worker-runtime.mjs", import.meta.url)));
