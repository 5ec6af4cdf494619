/**
 * An app folder deployed on the real Docker engine through the Docker target's program:
 * `synth` (the CLI's: functions, the host and the store service bundled, the project
 * emitted) into a temporary folder, then `DockerApp` applied by the engine mocks with the
 * local test images, every port on 127.0.0.1. Resolves once every container answers its
 * readiness and the gateway its liveness. Helpers reach the containers as the engine
 * does (inspect, exec, kill, restart) and NATS and the store as the admin and control
 * users would (the host reaches the app's bridge network directly, so nothing but the
 * gateway and the store is published). `destroy()` removes every object of the run.
 */
import { randomBytes } from "node:crypto";
import { cp, mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Graph, natsPermissions, resourcesOf, storeBucketName } from "@nimbus/core";
import {
  DockerApp,
  type DockerNames,
  type DockerStackConfig,
  deriveAccessKey,
  dockerNames,
  gatewayHealthInterval,
  natsPassword,
  readProject,
} from "@nimbus/deploy-docker";
import * as pulumi from "@pulumi/pulumi";
import { synth } from "nimbus";
import { cleanup, DockerEngine, newRunId, runLabel } from "./engine.ts";
import { type Applied, applyOnEngine } from "./engine-mocks.ts";
import { testImages } from "./images.ts";

/** How long the containers may take to answer ready after the program applied. */
const readyTimeout = 90_000;

/** The health endpoints (the Docker target's `healthPaths`, the store's and the gateway's). */
const readyPath = "/_nimbus/health/ready";
const gatewayLivePath = "/_nimbus/gateway/live";

export interface ContainerInfo {
  Id: string;
  Name: string;
  State: { Running: boolean; Pid: number; ExitCode: number; Status: string; Restarting: boolean; StartedAt: string };
  RestartCount: number;
  Image: string;
  Config: { Env: string[]; Labels: Record<string, string>; Image: string };
  HostConfig: { Runtime: string; ReadonlyRootfs: boolean; RestartPolicy: { Name: string } };
  NetworkSettings: { Networks: Record<string, { IPAddress: string }> };
}

/** A NATS login: what a host's NIMBUS_NATS_* variables hold. */
export interface NatsLogin {
  user: string;
  pass: string;
  inboxPrefix: string;
}

export interface DeployTimings {
  /** `nimbus synth`: bundles, host, store, project. */
  synthMs: number;
  /** The program applied on the engine (images built, containers created and started). */
  applyMs: number;
  /** From the program applied to every container ready and the gateway answering. */
  readyMs: number;
}

export interface DeployOptions {
  /**
   * The run id: the label of every object, and the stage.
   * @default a fresh one
   */
  runId?: string;
  engine?: DockerEngine;
  /** The functions' secrets by name. */
  secrets?: Record<string, string>;
}

/** One app on the engine. */
export class DockerDeployment {
  readonly runId: string;
  readonly engine: DockerEngine;
  readonly appDir: string;
  readonly projectDir: string;
  readonly names: DockerNames;
  readonly config: DockerStackConfig;
  readonly #seed: string;
  readonly #secrets: Record<string, string>;
  graph!: Graph;
  gatewayUrl = "";
  /** What the last apply created or kept, in order. */
  applied: Applied[] = [];
  timings: DeployTimings = { synthMs: 0, applyMs: 0, readyMs: 0 };

  private constructor(
    appDir: string,
    projectDir: string,
    runId: string,
    engine: DockerEngine,
    app: string,
    config: DockerStackConfig,
    seed: string,
    secrets: Record<string, string>,
  ) {
    this.appDir = appDir;
    this.projectDir = projectDir;
    this.runId = runId;
    this.engine = engine;
    this.names = dockerNames(app, runId);
    this.config = config;
    this.#seed = seed;
    this.#secrets = secrets;
  }

  /** Deploys `appDir` (synth, apply, ready); on any failure everything of the run is removed again. */
  static async deploy(appDir: string, options: DeployOptions = {}): Promise<DockerDeployment> {
    const runId = options.runId ?? newRunId();
    const engine = options.engine ?? new DockerEngine();
    const projectDir = await mkdtemp(join(tmpdir(), "nimbus-docker-project-"));
    const seed = randomBytes(32).toString("hex");
    const config: DockerStackConfig = {
      images: { ...testImages },
      gatewayPort: await freePort(),
      gatewayAddress: "127.0.0.1",
      storePort: await freePort(),
      credentialSeed: pulumi.secret(seed),
    };
    let deployment: DockerDeployment | undefined;
    try {
      const started = performance.now();
      const { graph } = await synth({ dir: appDir, out: projectDir });
      const synthMs = performance.now() - started;
      deployment = new DockerDeployment(
        appDir,
        projectDir,
        runId,
        engine,
        graph.app,
        config,
        seed,
        options.secrets ?? {},
      );
      await deployment.#apply(synthMs);
      return deployment;
    } catch (error) {
      await cleanup(runId, engine).catch(() => {});
      await rm(projectDir, { recursive: true, force: true });
      throw error;
    }
  }

  /**
   * Synthesizes the app folder again and applies it on the same stage: what is unchanged
   * is kept. The host's files stay those of the first deploy, as a redeploy with the
   * same Nimbus version has them: other work on this tree may change the host's sources
   * meanwhile, which would rebuild every image.
   */
  async redeploy(): Promise<DeployTimings> {
    const started = performance.now();
    const host = join(this.projectDir, "host");
    const kept = await mkdtemp(join(tmpdir(), "nimbus-docker-host-"));
    try {
      await cp(host, kept, { recursive: true });
      await synth({ dir: this.appDir, out: this.projectDir });
      await rm(host, { recursive: true, force: true });
      await cp(kept, host, { recursive: true });
    } finally {
      await rm(kept, { recursive: true, force: true });
    }
    await this.#apply(performance.now() - started);
    return this.timings;
  }

  async #apply(synthMs: number): Promise<void> {
    const project = readProject(this.projectDir);
    this.graph = project.graph;
    const started = performance.now();
    const mocks = await applyOnEngine({ runId: this.runId, engine: this.engine, project: this.graph.app });
    const app = new DockerApp(this.graph.app, {
      ...project,
      config: this.config,
      secrets: this.#secrets,
      stage: this.runId,
    });
    await mocks.settled();
    this.applied = mocks.applied;
    this.gatewayUrl = app.gatewayUrl;
    const provision = await this.inspect(this.names.provision);
    if (provision.State.ExitCode !== 0) {
      throw new Error(
        `the provision run exited ${provision.State.ExitCode}:\n${await this.logs(this.names.provision)}`,
      );
    }
    const applied = performance.now();
    await this.ready();
    this.timings = { synthMs, applyMs: applied - started, readyMs: performance.now() - applied };
  }

  /** The app's containers (the provision run's too), by name. */
  async containers(): Promise<ContainerInfo[]> {
    const filters = JSON.stringify({ label: [`${runLabel}=${this.runId}`, `nimbus.prefix=${this.names.prefix}`] });
    const list = await this.engine.call<{ Id: string }[]>("GET", "/containers/json", { query: { all: true, filters } });
    return Promise.all(list.map((container) => this.inspect(container.Id)));
  }

  inspect(container: string): Promise<ContainerInfo> {
    return this.engine.call<ContainerInfo>("GET", `/containers/${encodeURIComponent(container)}/json`);
  }

  /** The container's address on the app's network, which the Docker host reaches directly. */
  async address(container: string): Promise<string> {
    const info = await this.inspect(container);
    const ip = info.NetworkSettings.Networks[this.names.network]?.IPAddress;
    if (!ip) throw new Error(`container ${container} has no address on ${this.names.network}`);
    return ip;
  }

  /** The names of a function's replica containers. */
  replicas(fn: string): string[] {
    const spec = resourcesOf(this.graph, "function").find((resource) => resource.name === fn)?.spec;
    if (!spec) throw new Error(`the app has no function "${fn}"`);
    return Array.from({ length: spec.scale }, (_, index) => this.names.functionContainer(fn, index + 1));
  }

  /** Every container that serves (not the provision run) answers ready, and the gateway answers. */
  async ready(timeoutMs = readyTimeout): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const waiting = new Map<string, string>();
    for (const fn of resourcesOf(this.graph, "function")) {
      for (const name of this.replicas(fn.name)) waiting.set(name, `:8080${readyPath}`);
    }
    waiting.set(this.names.control, `:8080${readyPath}`);
    if (resourcesOf(this.graph, "bucket").length > 0) waiting.set(this.names.store, `:9000${readyPath}`);
    waiting.set(this.names.nats, ":8222/healthz?js-enabled-only=true");
    const last = new Map<string, string>();
    while (waiting.size > 0) {
      await Promise.all(
        [...waiting].map(async ([name, path]) => {
          try {
            const response = await fetch(`http://${await this.address(name)}${path}`, {
              signal: AbortSignal.timeout(2_000),
            });
            last.set(name, `${response.status} ${(await response.text()).slice(0, 200)}`);
            if (response.ok) waiting.delete(name);
          } catch (error) {
            last.set(name, (error as Error).message);
          }
        }),
      );
      if (waiting.size === 0) break;
      if (Date.now() > deadline) {
        const report = await Promise.all(
          [...waiting.keys()].map(
            async (name) => `${name}: ${last.get(name)}\n${(await this.logs(name).catch(() => "")).slice(-2_000)}`,
          ),
        );
        throw new Error(`not ready within ${timeoutMs / 1000}s:\n${report.join("\n")}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    // The gateway answers, and has taken every function's replicas (its health checks
    // passed): one route of each function answers with something else than 502 or 503.
    // A function without a GET route cannot be probed without running it: let the
    // gateway's own readiness checks take its replicas, which they do within one interval.
    const unprobed = resourcesOf(this.graph, "function").some(
      (fn) =>
        fn.spec.routes.length > 0 && !fn.spec.routes.some((route) => route.method === "GET" || route.method === "ANY"),
    );
    if (unprobed) await new Promise((resolve) => setTimeout(resolve, gatewayHealthInterval + 500));
    const probes = [
      gatewayLivePath,
      ...resourcesOf(this.graph, "function").flatMap((fn) => {
        const route = fn.spec.routes.find((candidate) => candidate.method === "GET" || candidate.method === "ANY");
        return route ? [route.path.replace(/:[^/]+/g, "probe").replace(/\/\*$/, "")] : [];
      }),
    ];
    for (const path of probes) {
      let last = "no answer";
      for (;;) {
        try {
          const response = await fetch(`${this.gatewayUrl}${path || "/"}`, { signal: AbortSignal.timeout(5_000) });
          await response.arrayBuffer();
          if (response.status !== 502 && response.status !== 503) break;
          last = String(response.status);
        } catch (error) {
          last = (error as Error).message;
        }
        if (Date.now() > deadline) {
          throw new Error(
            `the gateway at ${this.gatewayUrl} did not serve ${path} within ${timeoutMs / 1000}s (${last}):\n${await this.logs(this.names.gateway, 20)}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** Waits until the container runs again after `since` (its start time changed) and its health endpoint answers. */
  async runningAgain(container: string, since: string, timeoutMs = 60_000): Promise<ContainerInfo> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await this.inspect(container);
      if (info.State.Running && info.State.StartedAt !== since) {
        await this.ready(Math.max(1_000, deadline - Date.now()));
        return this.inspect(container);
      }
      if (Date.now() > deadline) {
        throw new Error(`${container} did not run again within ${timeoutMs / 1000}s (${info.State.Status})`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * SIGKILLs the container's main process from the Docker host, as a crash or the OOM
   * killer would: unlike `docker kill`, the engine does not count it as stopped by hand,
   * so the restart policy applies. Resolves once it runs again and is ready.
   */
  async crash(container: string): Promise<ContainerInfo> {
    const before = await this.inspect(container);
    if (!before.State.Running) throw new Error(`${container} is not running`);
    process.kill(before.State.Pid, "SIGKILL");
    return this.runningAgain(container, before.State.StartedAt);
  }

  /** `docker restart`: SIGTERM, the grace period, then a start. Resolves once ready again. */
  async restart(container: string): Promise<ContainerInfo> {
    const before = await this.inspect(container);
    await this.engine.call("POST", `/containers/${encodeURIComponent(container)}/restart`, {
      query: { t: 10 },
      timeoutMs: 60_000,
    });
    return this.runningAgain(container, before.State.StartedAt);
  }

  /** `docker stop`: SIGTERM and the grace period; the container stays stopped. */
  async stop(container: string): Promise<void> {
    await this.engine.call("POST", `/containers/${encodeURIComponent(container)}/stop`, {
      query: { t: 10 },
      timeoutMs: 60_000,
    });
  }

  async start(container: string): Promise<void> {
    const before = await this.inspect(container);
    await this.engine.call("POST", `/containers/${encodeURIComponent(container)}/start`);
    await this.runningAgain(container, before.State.StartedAt);
  }

  /** Runs a command in the container (as its user); its exit code and output. */
  async exec(container: string, command: string[]): Promise<{ exitCode: number; output: string }> {
    const created = await this.engine.call<{ Id: string }>(
      "POST",
      `/containers/${encodeURIComponent(container)}/exec`,
      { json: { Cmd: command, AttachStdout: true, AttachStderr: true } },
    );
    const { body } = await this.engine.request("POST", `/exec/${created.Id}/start`, {
      json: { Detach: false, Tty: false },
    });
    const { ExitCode } = await this.engine.call<{ ExitCode: number }>("GET", `/exec/${created.Id}/json`);
    return { exitCode: ExitCode, output: demultiplex(body) };
  }

  /** The container's output (stdout and stderr), the last `tail` lines. */
  async logs(container: string, tail = 100): Promise<string> {
    const { body } = await this.engine.request("GET", `/containers/${encodeURIComponent(container)}/logs`, {
      query: { stdout: true, stderr: true, tail: String(tail) },
    });
    return demultiplex(body);
  }

  /** An image's id (the engine's content address). */
  async imageId(name: string): Promise<string> {
    const image = await this.engine.image(name);
    if (!image) throw new Error(`no image ${name}`);
    return image.Id;
  }

  /** Where NATS answers, on the app's network. */
  async natsUrl(): Promise<string> {
    return `nats://${await this.address(this.names.nats)}:4222`;
  }

  /** The login of a NATS user of the app (`nimbus-admin`, `nimbus-control`, `function-<fn>`), from the stack's seed. */
  natsLogin(user: string): NatsLogin {
    const users = natsPermissions(this.graph, { prefix: this.names.prefix });
    const all = [...Object.values(users.functions), users.control, users.admin];
    const found = all.find((candidate) => candidate.user === user);
    if (!found) throw new Error(`the app has no NATS user "${user}" (${all.map((u) => u.user).join(", ")})`);
    return { user, pass: natsPassword(this.#seed, user), inboxPrefix: found.inboxPrefix };
  }

  /** The S3 endpoint published on 127.0.0.1, with the key of `principal` (`control` opens every bucket). */
  s3(principal = "control") {
    return {
      endpoint: `http://127.0.0.1:${this.config.storePort}`,
      region: "us-east-1",
      credentials: deriveAccessKey(this.#seed, principal),
      bucketName: (bucket: string) => storeBucketName(bucket, { prefix: this.names.prefix }),
    };
  }

  /** Removes every object of the run and the project folder. */
  async destroy(): Promise<void> {
    try {
      await cleanup(this.runId, this.engine);
    } finally {
      await rm(this.projectDir, { recursive: true, force: true });
    }
  }
}

/** The engine's multiplexed stdout/stderr stream as text. */
function demultiplex(body: Buffer): string {
  const parts: Buffer[] = [];
  let offset = 0;
  while (offset + 8 <= body.length) {
    const size = body.readUInt32BE(offset + 4);
    parts.push(body.subarray(offset + 8, offset + 8 + size));
    offset += 8 + size;
  }
  return Buffer.concat(parts).toString("utf8");
}

/** A port nothing listens on now on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
