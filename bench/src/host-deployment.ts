/**
 * A bench app deployed as the Docker target runs it, without containers: `nimbus build`'s
 * bundles, the host bundled as `nimbus synth` bundles it for the image,
 * nats-server on the rendered configuration (a user per function, the control role, the
 * admin), streams provisioned by the admin, and one host process per role, each
 * configured only by its environment.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type Graph, type NatsUser, natsPermissions, renderNatsConfig } from "@nimbus/core";
import { hostLayout } from "@nimbus/deploy-docker";
import { provisionNats, QueueAdmin } from "@nimbus/runtime/host";
import { type NatsServer, startNatsServer } from "@nimbus/runtime/host/testing";
import { build, buildHost } from "nimbus";
import { benchDir, copyApp } from "./support.ts";

/** Linux's limit on one environment variable (MAX_ARG_STRLEN, 32 pages), with its name and `=`. */
const maxVariable = 128 * 1024 - "NIMBUS_GRAPH=".length - 1;

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The host as `nimbus synth` builds it for the image (the CLI's `buildHost`: an entry and
 * the chunks it loads), written into a temporary folder under bench/. Answers the entry's
 * path and a remover.
 */
export async function bundleHost(): Promise<{ file: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(benchDir, ".tmp-host-bundle-"));
  for (const [path, bytes] of await buildHost()) {
    await mkdir(dirname(join(dir, path)), { recursive: true });
    await writeFile(join(dir, path), bytes);
  }
  return { file: join(dir, hostLayout.host), remove: () => rm(dir, { recursive: true, force: true }) };
}

/** One host process; `started` is `performance.now()` at the spawn. */
export interface HostProcess {
  readonly url: string;
  readonly pid: number;
  readonly started: number;
  /** ms from the spawn to the first 200 from `/_nimbus/health/ready`. */
  readonly readyMs: number;
  /** The resident set (VmRSS) now, in bytes. */
  rss(): Promise<number>;
  stop(): Promise<void>;
}

/** Starts `node <entry>` with the host's environment and resolves once it answers ready (polled every 5 ms). */
export function startHost(entry: string, env: Record<string, string>): Promise<HostProcess> {
  return startServer(() => [entry], env, "/_nimbus/health/ready");
}

/** Starts `node <args(port)>` and resolves once `readyPath` answers 200. */
export async function startServer(
  args: (port: number) => string[],
  env: Record<string, string>,
  readyPath: string,
): Promise<HostProcess> {
  const port = await freePort();
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("NIMBUS_")));
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, args(port), {
    env: { ...inherited, ...env, NIMBUS_PORT: String(port), NIMBUS_HOSTNAME: "127.0.0.1" },
    // Piped and read, as a container runtime reads a host's log lines.
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-8192);
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(timer);
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`node ${args(port).join(" ")} exited before it was ready:\n${output}`);
    try {
      const response = await fetch(`${url}${readyPath}`);
      await response.arrayBuffer();
      if (response.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`node ${args(port).join(" ")} was not ready within 30 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const readyMs = performance.now() - started;
  return {
    url,
    pid: child.pid!,
    started,
    readyMs,
    async rss() {
      const status = await readFile(`/proc/${child.pid}/status`, "utf8");
      return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN) * 1024;
    },
    stop,
  };
}

/** A built bench app on its own nats-server, provisioned; hosts are started on demand. */
export interface HostDeployment {
  readonly graph: Graph;
  /** The admin's connection (stats, purges). */
  readonly nc: NatsConnection;
  readonly admin: QueueAdmin;
  /** Whether the graph is too large for NIMBUS_GRAPH and goes through NIMBUS_GRAPH_FILE. */
  readonly graphViaFile: boolean;
  /** The host environment of function `name` (its NATS user), or of the control role. */
  env(role: { function: string } | "control"): Record<string, string>;
  close(): Promise<void>;
}

/** Copies `bench/apps/<name>`, builds it (with `buildEnv` set while its app file loads), and starts and provisions NATS. */
export async function deployApp(name: string, buildEnv: Record<string, string> = {}): Promise<HostDeployment> {
  const app = await copyApp(name);
  const cleanups: (() => Promise<unknown>)[] = [app.remove];
  const cleanup = async () => {
    for (const step of cleanups) await step().catch(() => {});
  };
  try {
    const out = join(app.dir, ".nimbus", "dist");
    const saved = Object.fromEntries(Object.keys(buildEnv).map((key) => [key, process.env[key]]));
    Object.assign(process.env, buildEnv);
    let graph: Graph;
    try {
      ({ graph } = await build({ dir: app.dir, out }));
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
    const prefix = `bench-${graph.app}`;
    const users = natsPermissions(graph, { prefix });
    const all: NatsUser[] = [...Object.values(users.functions), users.control, users.admin];
    const passwords = Object.fromEntries(all.map((user) => [user.user, randomBytes(18).toString("base64url")]));
    const nats: NatsServer = await startNatsServer({
      config: (place) => renderNatsConfig(users, { app: graph.app, passwords, ...place }),
    });
    cleanups.unshift(() => nats.stop());
    const nc = await connect({
      servers: nats.url,
      user: users.admin.user,
      pass: passwords[users.admin.user],
      inboxPrefix: users.admin.inboxPrefix,
      name: "nimbus-bench",
    });
    cleanups.unshift(() => nc.close());
    await provisionNats(nc, graph, { prefix });
    const admin = await QueueAdmin.open({ nc, graph, prefix });
    // The graph is passed whole, as the Docker target passes it to the control role;
    // one too large for an environment variable goes through a file (NIMBUS_GRAPH_FILE).
    const graphJson = JSON.stringify(graph);
    const graphFile = join(app.dir, "graph.json");
    const viaFile = Buffer.byteLength(graphJson) >= maxVariable;
    if (viaFile) await writeFile(graphFile, graphJson);
    return {
      graph,
      graphViaFile: viaFile,
      nc,
      admin,
      env(role) {
        const user = role === "control" ? users.control : users.functions[role.function]!;
        const common = {
          ...(viaFile ? { NIMBUS_GRAPH_FILE: graphFile } : { NIMBUS_GRAPH: graphJson }),
          NIMBUS_NATS_URL: nats.url,
          NIMBUS_NATS_USER: user.user,
          NIMBUS_NATS_PASSWORD: passwords[user.user]!,
          NIMBUS_PREFIX: prefix,
        };
        if (role === "control") return { ...common, NIMBUS_ROLE: "control" };
        return {
          ...common,
          NIMBUS_ROLE: "function",
          NIMBUS_FUNCTION: role.function,
          NIMBUS_HANDLER: join(out, "functions", `${role.function}.mjs`),
        };
      },
      close: cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
