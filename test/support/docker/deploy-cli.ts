/**
 * deploy.ts as a child process, for the benchmarks (which import no test code): deploys
 * an app folder on the Docker engine and answers commands on stdin, one JSON line each
 * way. Every object of the run is removed on `destroy`, on stdin's end and on SIGTERM.
 *
 * Usage: node --conditions=nimbus-source test/support/docker/deploy-cli.ts <app folder>
 * Commands: `redeploy`, `start-to-ready <container>`, `destroy`.
 * Answers: {"event":"deployed","gatewayUrl":…,"timings":…,"containers":{fn:[names]}},
 * {"event":"redeployed","timings":…}, {"event":"ready","ms":…}, {"event":"destroyed"},
 * {"event":"error","message":…}.
 */
import { createInterface } from "node:readline";
import { resourcesOf } from "@nimbus/core";
import { DockerDeployment } from "./deploy.ts";
import { dockerAvailable } from "./engine.ts";
import { buildTestImages } from "./images.ts";

const say = (value: object) => process.stdout.write(`${JSON.stringify(value)}\n`);
const appDir = process.argv[2];
if (!appDir) {
  say({ event: "error", message: "usage: deploy-cli.ts <app folder>" });
  process.exit(2);
}
const unavailable = await dockerAvailable().catch((error: Error) => error.message);
if (unavailable !== undefined) {
  say({ event: "error", message: unavailable });
  process.exit(3);
}

let deployment: DockerDeployment | undefined;
let ending: Promise<void> | undefined;
const end = (code: number) => {
  ending ??= (async () => {
    await deployment?.destroy().catch(() => {});
    say({ event: "destroyed" });
    process.exit(code);
  })();
  return ending;
};
process.on("SIGTERM", () => void end(0));

try {
  await buildTestImages();
  deployment = await DockerDeployment.deploy(appDir);
  const containers = Object.fromEntries(
    resourcesOf(deployment.graph, "function").map((fn) => [fn.name, deployment!.replicas(fn.name)]),
  );
  say({ event: "deployed", gatewayUrl: deployment.gatewayUrl, timings: deployment.timings, containers });
} catch (error) {
  say({ event: "error", message: (error as Error).stack ?? String(error) });
  await end(1);
}

for await (const line of createInterface({ input: process.stdin })) {
  const [command, argument] = line.trim().split(/\s+/);
  try {
    if (command === "redeploy") {
      say({ event: "redeployed", timings: await deployment!.redeploy() });
    } else if (command === "start-to-ready" && argument) {
      // The container alone: from the engine's start to its own readiness endpoint answering 200.
      await deployment!.stop(argument);
      const started = performance.now();
      await deployment!.engine.call("POST", `/containers/${argument}/start`);
      for (;;) {
        const ok = await deployment!
          .address(argument)
          .then((ip) => fetch(`http://${ip}:8080/_nimbus/health/ready`))
          .then((response) => response.ok)
          .catch(() => false);
        if (ok) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      say({ event: "ready", ms: performance.now() - started });
      await deployment!.ready();
    } else if (command === "destroy") {
      break;
    } else {
      say({ event: "error", message: `unknown command: ${line}` });
    }
  } catch (error) {
    say({ event: "error", message: (error as Error).stack ?? String(error) });
  }
}
await end(0);
