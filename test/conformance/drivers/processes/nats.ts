// nats-server for the processes target, run on the configuration the deploy targets
// render (core's `renderNatsConfig`: one user per function, the control role and the
// admin, each with its password and allow lists). F's `startNatsServer`
// (@nimbus/runtime/host/testing) starts a server on a fixed, open configuration, so this
// starts one on ours; once that starter takes a configuration, this becomes a call to it.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { type Graph, type NatsUsers, natsPermissions, renderNatsConfig } from "@nimbus/core";
import { freePort } from "./host-process.ts";

/** `NATS_SERVER`, or the first `nats-server` on PATH or in the sbin folders (Debian puts it in /usr/sbin). */
export function natsBinary(): string | undefined {
  if (process.env.NATS_SERVER) return existsSync(process.env.NATS_SERVER) ? process.env.NATS_SERVER : undefined;
  const folders = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  return folders
    .filter((folder) => folder !== "")
    .map((folder) => join(folder, "nats-server"))
    .find(existsSync);
}

/** A user's connection settings, as the host's NIMBUS_NATS_* variables and the driver's own client take them. */
export interface NatsLogin {
  user: string;
  pass: string;
  inboxPrefix: string;
}

export interface Nats {
  readonly url: string;
  /** The provisioner's and tools' user (stats, dead letters, redrive, purges). */
  readonly admin: NatsLogin;
  readonly control: NatsLogin;
  login(fn: string): NatsLogin;
  /** Renders the configuration of `graph` again (a reload added a function or a queue) and reloads it. */
  reconfigure(graph: Graph): Promise<void>;
  /** SIGTERM, then a start on the same port and storage. */
  restart(): Promise<void>;
  /** SIGKILL: JetStream flushes nothing. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts nats-server with JetStream on `dir/jetstream` (kept across restarts; the caller removes `dir`). */
export async function startNats(graph: Graph, dir: string, prefix: string | undefined): Promise<Nats> {
  const binary = natsBinary();
  if (!binary)
    throw new Error("nats-server is not installed (Debian: apt-get install nats-server; or set NATS_SERVER)");
  await mkdir(dir, { recursive: true });
  const port = await freePort();
  const file = join(dir, "nats.conf");
  const storeDir = join(dir, "jetstream");
  const passwords = new Map<string, string>();
  let users: NatsUsers;

  let rendered = "";
  /** Writes the configuration of `current`; false when it is what the server already runs. */
  const render = async (current: Graph): Promise<boolean> => {
    users = natsPermissions(current, prefix ? { prefix } : {});
    for (const user of [...Object.values(users.functions), users.control, users.admin]) {
      if (!passwords.has(user.user)) passwords.set(user.user, randomBytes(18).toString("base64url"));
    }
    const text = renderNatsConfig(users, {
      app: current.app,
      passwords: Object.fromEntries(passwords),
      storeDir,
      listen: `127.0.0.1:${port}`,
    });
    if (text === rendered) return false;
    rendered = text;
    await writeFile(file, text);
    return true;
  };
  const login = (user: { user: string; inboxPrefix: string }): NatsLogin => ({
    user: user.user,
    pass: passwords.get(user.user)!,
    inboxPrefix: user.inboxPrefix,
  });

  let child: ChildProcess | undefined;
  let output = "";
  /** Resolves once the server's output shows `line` (after `from`), or rejects when it exits first. */
  const waitFor = (proc: ChildProcess, line: string, from: number, what: string) =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`nats-server did not ${what} within 20s:\n${output}`)), 20_000);
      const check = () => {
        if (!output.slice(from).includes(line)) return;
        clearTimeout(timer);
        proc.stdout?.off("data", check);
        proc.stderr?.off("data", check);
        resolve();
      };
      proc.stdout?.on("data", check);
      proc.stderr?.on("data", check);
      proc.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${signal ?? `code ${code}`}) before it could ${what}:\n${output}`));
      });
      check();
    });
  const start = async () => {
    output = "";
    const proc = spawn(binary, ["-c", file], { stdio: ["ignore", "pipe", "pipe"] });
    child = proc;
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      if (process.env.NIMBUS_CONFORMANCE_LOGS) process.stderr.write(`[nats] ${chunk}`);
    };
    proc.stdout?.on("data", read);
    proc.stderr?.on("data", read);
    // The line comes once JetStream has recovered its streams, so a restarted server is usable.
    await waitFor(proc, "Server is ready", 0, "get ready");
  };
  const end = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = undefined;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill(signal);
    await exited;
  };

  await render(graph);
  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    get admin() {
      return login(users.admin);
    },
    get control() {
      return login(users.control);
    },
    login: (fn) => {
      const user = users.functions[fn];
      if (!user) throw new Error(`the NATS configuration has no user for function "${fn}"`);
      return login(user);
    },
    reconfigure: async (current) => {
      if (!(await render(current)) || !child) return;
      // A reload keeps every connection: users and permissions change in place.
      const from = output.length;
      child.kill("SIGHUP");
      await waitFor(child, "Reloaded server configuration", from, "reload its configuration");
    },
    restart: async () => {
      await end("SIGTERM");
      await start();
    },
    kill: () => end("SIGKILL"),
    start,
    stop: () => end("SIGTERM"),
  };
}
