/**
 * `pnpm bench`: every figure an issue names, each beside its baseline where one exists.
 * `pnpm bench --smoke` is CI's short pass: every benchmark runs, on small inputs.
 */
import { parseArgs } from "node:util";
import { benchBuckets } from "./buckets.ts";
import { benchBus } from "./bus.ts";
import { benchDeployDocker } from "./deploy-docker.ts";
import { benchDocker } from "./docker.ts";
import { benchEmulator } from "./emulator.ts";
import { benchGraph } from "./graph.ts";
import { benchHost } from "./host.ts";
import { benchPatterns } from "./patterns.ts";
import { benchQueues } from "./queues.ts";
import { benchS3 } from "./s3.ts";
import { benchSchedules } from "./schedules.ts";
import { benchStore } from "./store.ts";

const { values } = parseArgs({
  options: { smoke: { type: "boolean", default: false }, only: { type: "string" } },
});
const smoke = values.smoke ?? false;
const benches: Record<string, (options: { smoke: boolean }) => Promise<void>> = {
  graph: benchGraph,
  patterns: benchPatterns,
  emulator: benchEmulator,
  buckets: benchBuckets,
  queues: benchQueues,
  s3: benchS3,
  store: benchStore,
  bus: benchBus,
  schedules: benchSchedules,
  "deploy-docker": benchDeployDocker,
  docker: benchDocker,
  host: benchHost,
};

console.log(`Nimbus benchmarks${smoke ? " (smoke pass: small inputs, figures not meaningful)" : ""}`);
console.log(`node ${process.version}, ${process.platform}/${process.arch}`);
for (const [name, bench] of Object.entries(benches)) {
  if (values.only && values.only !== name) continue;
  await bench({ smoke });
}

// Baseline clients (autocannon's agents, Miniflare's workerd sockets) can leave handles
// open after their last use; the figures are printed, so end here rather than linger.
process.exit(0);
