import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePort, stopProcess } from "./processes.ts";

/** `NATS_SERVER`, or the first `nats-server` on PATH or in the sbin folders (Debian's package puts it in /usr/sbin). */
function natsBinary(): string | undefined {
  if (process.env.NATS_SERVER) return existsSync(process.env.NATS_SERVER) ? process.env.NATS_SERVER : undefined;
  const folders = [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin", "/sbin"];
  return folders
    .filter((folder) => folder !== "")
    .map((folder) => join(folder, "nats-server"))
    .find((path) => existsSync(path));
}

/** A `nats-server -js` of its own for a test: a free port on 127.0.0.1 and its own storage folder. */
export interface NatsServer {
  /** `nats://127.0.0.1:<port>`, for `connect({ servers })`. */
  readonly url: string;
  readonly port: number;
  /** The JetStream storage folder (unless a text configuration names its own); kept across `restart` and `kill`. */
  readonly storeDir: string;
  /** Stops it (SIGTERM, so JetStream flushes) and starts it again on the same port and storage. */
  restart(): Promise<void>;
  /** Ends it with SIGKILL: nothing is flushed; `start` brings it back on the same storage. */
  kill(): Promise<void>;
  /** Starts it again after `kill`. */
  start(): Promise<void>;
  /** Stops it and removes its storage. */
  stop(): Promise<void>;
}

/**
 * Why real-server tests cannot run here, or undefined when they can. Under `CI=true` a
 * missing server is a failure, not a skip: `nats-server` is part of the CI machine.
 */
export function natsServerMissing(): string | undefined {
  if (natsBinary()) return undefined;
  const reason = `nats-server is not installed (Debian: apt-get install nats-server; or set NATS_SERVER to its path)`;
  if (process.env.CI === "true") throw new Error(`nats-server is required on CI: ${reason}`);
  return reason;
}

/** Where the server listens and stores, for a configuration rendered per server. */
export interface NatsServerPlace {
  /** `127.0.0.1:<port>`, a free port. */
  listen: string;
  /** A fresh JetStream storage folder. */
  storeDir: string;
}

export interface NatsServerOptions {
  /**
   * The server's configuration file, in place of the open one: a text, or a function of
   * where the server listens and stores, e.g. core's `renderNatsConfig(users, { ...place, app, passwords })`,
   * for a server with the app's accounts and permissions. A text is started on the free
   * port all the same (`-a 127.0.0.1 -p <port>` override its address) and keeps its own
   * `store_dir`.
   * @default an open server: no users, JetStream, a 2 MiB payload limit
   */
  config?: string | ((place: NatsServerPlace) => string);
  /**
   * More command-line arguments, after `-c <file>`.
   * @default []
   * @example ["-DV"]
   */
  args?: readonly string[];
}

/**
 * Starts `nats-server` on a free 127.0.0.1 port with a fresh temporary storage folder,
 * and resolves once it accepts connections. Without `options.config` it runs JetStream
 * with no users, and the payload limit raised to 2 MiB so a 1 MiB body (the largest
 * `maxMessageSize`) fits with its headers; the Docker target's NATS configuration does
 * the same. A configuration given as text keeps its own storage folder; it listens on
 * the free port.
 */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = natsBinary();
  if (!binary) throw new Error(`nats-server is not installed: ${natsServerMissing()}`);
  const dir = await mkdtemp(join(tmpdir(), "nimbus-nats-"));
  const storeDir = join(dir, "jetstream");
  const port = await freePort();
  const listen = `127.0.0.1:${port}`;
  const config = join(dir, "nats.conf");
  const text =
    typeof options.config === "string"
      ? options.config
      : options.config
        ? options.config({ listen, storeDir })
        : `listen: "${listen}"\nmax_payload: 2097152\njetstream { store_dir: "${storeDir}" }\n`;
  await writeFile(config, text);
  // A text cannot know the free port: the flags override the address it names.
  const place = typeof options.config === "string" ? ["-a", "127.0.0.1", "-p", String(port)] : [];
  let child: ChildProcess | undefined;
  let output = "";

  const start = async () => {
    output = "";
    const proc = spawn(binary, ["-c", config, ...place, ...(options.args ?? [])], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    // The log line comes after JetStream has recovered its streams, so a restarted server is usable.
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`nats-server did not become ready within 20s:\n${output}`)),
        20_000,
      );
      const read = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("Server is ready")) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout?.on("data", read);
      proc.stderr?.on("data", read);
      proc.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${code ?? signal}) before accepting connections:\n${output}`));
      });
      proc.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
    });
    await ready;
    await connectOnce(port);
  };

  const end = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = undefined;
    await stopProcess(proc, signal);
  };

  await start();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    restart: async () => {
      await end("SIGTERM");
      await start();
    },
    kill: () => end("SIGKILL"),
    start,
    stop: async () => {
      await end("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once a TCP connection to the port succeeds. */
async function connectOnce(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const socket = createConnection({ host: "127.0.0.1", port }, () => {
      socket.end();
      resolve();
    });
    socket.once("error", reject);
  });
}
