/**
 * The engine mocks against a real Docker engine: a small Pulumi program (a network, a
 * volume, NATS from the local test image with its config uploaded and its port published
 * on 127.0.0.1) is applied unchanged, the container really answers, and `cleanup`
 * removes every object of the run. Skipped, with the reason, where no engine answers;
 * under CI=true a missing engine fails.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { release, tmpdir } from "node:os";
import { join } from "node:path";
import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { cleanup, DockerEngine, dockerAvailable, newRunId, runLabel } from "./support/docker/engine.ts";
import { applyOnEngine } from "./support/docker/engine-mocks.ts";
import { buildTestImages, testImages } from "./support/docker/images.ts";

const skipReason = await dockerAvailable();
if (skipReason !== undefined) console.warn(`docker-engine.test.ts skipped: ${skipReason}`);

const outputValue = <T>(output: pulumi.Output<T>): Promise<T> =>
  new Promise((resolve) => output.apply((value) => resolve(value)));

/** The first line a NATS server sends a new connection: `INFO {...}`, parsed. */
function natsInfo(port: number): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port });
    let text = "";
    socket.setTimeout(5_000, () => socket.destroy(new Error(`no INFO line from 127.0.0.1:${port} within 5s`)));
    socket.on("data", (chunk) => {
      text += chunk.toString();
      const end = text.indexOf("\r\n");
      if (end === -1) return;
      socket.destroy();
      const line = text.slice(0, end);
      if (!line.startsWith("INFO ")) reject(new Error(`expected an INFO line, got: ${line}`));
      else resolve(JSON.parse(line.slice("INFO ".length)) as Record<string, unknown>);
    });
    socket.on("error", reject);
  });
}

/** Every object on the engine labelled with the run, by kind. */
async function labelled(engine: DockerEngine, runId: string) {
  const filters = JSON.stringify({ label: [`${runLabel}=${runId}`] });
  const containers = await engine.call<unknown[]>("GET", "/containers/json", { query: { all: true, filters } });
  const networks = await engine.call<unknown[]>("GET", "/networks", { query: { filters } });
  const volumes = await engine.call<{ Volumes: unknown[] | null }>("GET", "/volumes", { query: { filters } });
  return { containers: containers.length, networks: networks.length, volumes: volumes.Volumes?.length ?? 0 };
}

describe.skipIf(skipReason !== undefined)("engine mocks on a real Docker engine", () => {
  const engine = new DockerEngine();
  const runs: string[] = [];
  const run = () => {
    const id = newRunId();
    runs.push(id);
    return id;
  };

  beforeAll(async () => {
    await buildTestImages(engine);
  }, 120_000);

  // The teardown also when a test failed half-way; cleanup of an already clean run is a no-op.
  afterAll(async () => {
    for (const runId of runs) await cleanup(runId, engine);
  }, 60_000);

  test("apply: a network, a volume and a NATS container are created on the engine; its port on 127.0.0.1 answers, and cleanup removes them all", async () => {
    const runId = run();
    const mocks = await applyOnEngine({ runId });
    const network = new docker.Network("net", { name: `nimbus-smoke-${runId}` });
    const volume = new docker.Volume("data", { name: `nimbus-smoke-${runId}` });
    const image = new docker.RemoteImage("nats-image", { name: testImages.nats, keepLocally: true });
    const config = [
      `server_name: smoke-${runId}`,
      "listen: 0.0.0.0:4222",
      "http_port: 8222",
      'jetstream { store_dir: "/data" }',
      "",
    ].join("\n");
    const container = new docker.Container("nats", {
      name: `nimbus-smoke-nats-${runId}`,
      image: image.imageId,
      command: ["nats-server", "--config", "/etc/nats/smoke.conf"],
      uploads: [{ file: "/etc/nats/smoke.conf", content: config }],
      mounts: [{ type: "volume", source: volume.name, target: "/data" }],
      networksAdvanced: [{ name: network.name, aliases: ["nats"] }],
      ports: [{ internal: 4222 }],
      memory: 128,
      healthcheck: {
        tests: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8222/healthz"],
        interval: "500ms",
        timeout: "2s",
        retries: 10,
      },
      wait: true,
      waitTimeout: 30,
      labels: [{ label: "nimbus.test.case", value: "smoke" }],
    });
    await mocks.settled();

    const ports = await outputValue(container.ports);
    const port = ports?.[0]?.external;
    expect(port).toBeGreaterThan(0);
    const info = await natsInfo(port!);
    expect(info.server_name).toBe(`smoke-${runId}`);
    expect(info.jetstream).toBe(true);

    const inspected = await engine.call<{
      Config: { Labels: Record<string, string> };
      HostConfig: { Memory: number; PortBindings: Record<string, { HostIp: string }[]> };
      NetworkSettings: { Networks: Record<string, { Aliases: string[] | null }> };
    }>("GET", `/containers/${await outputValue(container.id)}/json`);
    expect(inspected.Config.Labels).toMatchObject({ [runLabel]: runId, "nimbus.test.case": "smoke" });
    expect(inspected.HostConfig.Memory).toBe(128 * 1024 * 1024);
    expect(inspected.HostConfig.PortBindings["4222/tcp"]?.map((binding) => binding.HostIp)).toEqual(["127.0.0.1"]);
    // Only the test's own network: not Docker's default bridge.
    expect(Object.keys(inspected.NetworkSettings.Networks)).toEqual([`nimbus-smoke-${runId}`]);
    expect(inspected.NetworkSettings.Networks[`nimbus-smoke-${runId}`]?.Aliases).toContain("nats");
    expect(mocks.applied.map((resource) => resource.type).sort()).toEqual([
      "docker:index/container:Container",
      "docker:index/network:Network",
      "docker:index/remoteImage:RemoteImage",
      "docker:index/volume:Volume",
    ]);

    expect(await labelled(engine, runId)).toEqual({ containers: 1, networks: 1, volumes: 1 });
    const removed = await cleanup(runId, engine);
    expect(removed).toMatchObject({
      containers: [`nimbus-smoke-nats-${runId}`],
      networks: [`nimbus-smoke-${runId}`],
      volumes: [`nimbus-smoke-${runId}`],
    });
    expect(await labelled(engine, runId)).toEqual({ containers: 0, networks: 0, volumes: 0 });
  }, 120_000);

  test("apply: an Image builds FROM a local image with skipPush, labelled with the run, and cleanup removes it", async () => {
    const runId = run();
    const dir = mkdtempSync(join(tmpdir(), "nimbus-engine-mocks-"));
    writeFileSync(join(dir, "hello.txt"), `hello ${runId}\n`);
    writeFileSync(join(dir, "Dockerfile"), `FROM ${testImages.base}\nCOPY hello.txt /hello.txt\n`);
    const mocks = await applyOnEngine({ runId });
    const image = new docker.Image("hello", {
      imageName: `nimbus-smoke-hello:${runId}`,
      build: { context: dir, dockerfile: join(dir, "Dockerfile") },
      skipPush: true,
    });
    await mocks.settled();

    const repoDigest = await outputValue(image.repoDigest);
    const built = await engine.image(`nimbus-smoke-hello:${runId}`);
    expect(built?.Id).toBe(repoDigest);
    expect(built?.Config.Labels?.[runLabel]).toBe(runId);
    expect(await outputValue(image.dockerfile)).toBe("Dockerfile");

    const removed = await cleanup(runId, engine);
    expect(removed.images).toEqual([`nimbus-smoke-hello:${runId}`]);
    expect(await engine.image(`nimbus-smoke-hello:${runId}`)).toBeUndefined();
    // The base the build stood on is the tests' image, not the run's: it stays.
    expect(await engine.image(testImages.base)).toBeDefined();
  }, 120_000);

  test("apply: a container with runtime runsc runs under gVisor; with attach its exit code and log are outputs", async (context) => {
    const info = await engine.call<{ Runtimes: Record<string, unknown> }>("GET", "/info");
    if (!("runsc" in info.Runtimes)) {
      console.warn(
        "docker-engine.test.ts: runsc is not a runtime of this engine (.ci/run registers it where Debian has it)",
      );
      context.skip();
    }
    const runId = run();
    const mocks = await applyOnEngine({ runId });
    const container = new docker.Container("gvisor", {
      name: `nimbus-smoke-gvisor-${runId}`,
      image: testImages.base,
      command: ["cat", "/proc/version"],
      runtime: "runsc",
      attach: true,
      logs: true,
    });
    await mocks.settled();
    expect(await outputValue(container.exitCode)).toBe(0);
    const log = await outputValue(container.containerLogs);
    expect(log).toMatch(/^Linux version/);
    // gVisor's own kernel answers, not the host's.
    expect(log).not.toContain(release());
  }, 60_000);

  test("apply: a RemoteImage that is not on the engine fails naming the image; nothing is pulled", async () => {
    const runId = run();
    const mocks = await applyOnEngine({ runId });
    new docker.RemoteImage("missing", { name: `nimbus-test/not-built:${runId}` });
    await expect(mocks.settled()).rejects.toThrow(`nimbus-test/not-built:${runId}, which is not on the Docker engine`);
    expect(await engine.image(`nimbus-test/not-built:${runId}`)).toBeUndefined();
  }, 60_000);

  test("apply: a port published on an address other than 127.0.0.1 is refused before anything starts", async () => {
    const runId = run();
    const mocks = await applyOnEngine({ runId });
    new docker.Container("open", {
      name: `nimbus-smoke-open-${runId}`,
      image: testImages.nats,
      ports: [{ internal: 4222, ip: "0.0.0.0" }],
    });
    await expect(mocks.settled()).rejects.toThrow("tests publish on 127.0.0.1 only");
    expect(await labelled(engine, runId)).toEqual({ containers: 0, networks: 0, volumes: 0 });
  }, 60_000);
});
