/**
 * Issue #15's figure: synthesizing the Docker target's program for a generated app of
 * 1,000 functions (bench/src/graph.ts's app: 1,000 queues, 200 rules, schedules) under
 * plain Pulumi mocks, until every resource is registered. Goal < 10 s. Beside it, the
 * floor: Pulumi registering the same resources (same types, same count) with bare
 * inputs, so the share that is Pulumi's own shows.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { resourcesOf } from "@nimbus/core";
import { DockerApp, defaultImages } from "@nimbus/deploy-docker";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { generateApp } from "./graph.ts";

// Not support.ts's: that module loads the emulator, which this figure does not need.
const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

/** Plain mocks: state is the inputs, any call throws. Gives the types registered, in order. */
async function mock(): Promise<string[]> {
  const types: string[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource: (args) => {
        types.push(args.type);
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call: (args) => {
        const message = `unmocked call: ${args.token}`;
        throw Object.assign(new Error(message), { details: message });
      },
    },
    "bench",
    "bench",
    false,
  );
  return types;
}

class Bare extends pulumi.ComponentResource {
  constructor(type: string, name: string) {
    super(type, name, {}, {});
    this.registerOutputs({});
  }
}

/** Registers one bare resource per type of `types`, and waits until all are answered. */
async function bare(types: string[]): Promise<number> {
  await mock();
  const start = performance.now();
  for (const [i, type] of types.entries()) {
    if (type === "docker:index/container:Container") new docker.Container(`c${i}`, { image: "x" });
    else if (type === "docker:index/image:Image") new docker.Image(`i${i}`, { imageName: "x:1", skipPush: true });
    else if (type === "docker:index/remoteImage:RemoteImage") new docker.RemoteImage(`r${i}`, { name: "x:1" });
    else if (type === "docker:index/network:Network") new docker.Network(`n${i}`, {});
    else if (type === "docker:index/volume:Volume") new docker.Volume(`v${i}`, {});
    else new Bare(type, `b${i}`);
  }
  await pulumi.runtime.disconnect();
  return performance.now() - start;
}

export async function benchDeployDocker(options: { smoke: boolean }): Promise<void> {
  const functions = options.smoke ? 50 : 1_000;
  const graph = generateApp({ functions, queues: functions, rules: Math.round(functions / 5) }).toGraph();
  const dir = mkdtempSync(join(tmpdir(), "nimbus-bench-docker-"));
  try {
    const hostDir = join(dir, "host");
    mkdirSync(hostDir);
    writeFileSync(join(hostDir, "main.js"), "// the host\n");
    const bundles: Record<string, string> = {};
    for (const fn of resourcesOf(graph, "function")) {
      bundles[fn.name] = join(dir, `${fn.name}.mjs`);
      writeFileSync(bundles[fn.name]!, `export default { name: ${JSON.stringify(fn.name)} };\n`);
    }
    const runs = options.smoke ? 1 : 3;
    const times: number[] = [];
    const floors: number[] = [];
    let types: string[] = [];
    for (let run = 0; run < runs; run++) {
      types = await mock();
      const start = performance.now();
      new DockerApp(graph.app, {
        graph,
        bundles,
        hostDir,
        buildDir: join(dir, "build"),
        config: { images: defaultImages, gatewayPort: 8080, credentialSeed: pulumi.secret("bench-seed") },
      });
      // Every registration answered: the program is fully synthesized.
      await pulumi.runtime.disconnect();
      times.push(performance.now() - start);
      floors.push(await bare(types));
    }
    const custom = types.filter((type) => type.startsWith("docker:")).length;
    console.log(`\n## Docker target: synthesize ${functions} functions under plain Pulumi mocks`);
    console.log(
      `   (${graph.resources.length} graph resources → ${types.length} Pulumi resources, ${custom} of them Docker resources; median of ${runs} runs)`,
    );
    console.log(`   DockerApp, until all registered ${median(times).toFixed(0).padStart(6)} ms   goal < 10000 ms`);
    console.log(
      `   Pulumi alone, same resources    ${median(floors).toFixed(0).padStart(6)} ms   (bare inputs: the floor)`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
