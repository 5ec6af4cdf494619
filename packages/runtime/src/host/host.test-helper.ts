// What the host's role tests share: a host process read as JSON log lines, the NATS
// logins of an app's users, and the queue and bus plumbing they check against.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { fileURLToPath } from "node:url";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type Graph, type NatsUsers, queueNames, resourcesOf } from "@nimbus/core";
import { jetStreamBusTransport } from "./bus.ts";
import type { LogEntry } from "./log.ts";

const main = fileURLToPath(new URL("./main.ts", import.meta.url));

/** A host process and its log, read as JSON lines from stdout and stderr. */
export interface HostProcess {
  child: ChildProcess;
  lines: LogEntry[];
  /** Resolves with the first line (seen or to come) that `match` accepts. */
  line(match: (line: LogEntry) => boolean): Promise<LogEntry>;
  exited: Promise<{ code: number | null; output: string }>;
  /** A URL on the port the host logged `listening on`. */
  url: (path: string) => string;
}

/** Runs the host's `main.ts` with only `env` (and PATH), as a deploy runs it. */
export function spawnHost(env: Record<string, string>): HostProcess {
  const child = spawn(process.execPath, ["--conditions=nimbus-source", main], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: LogEntry[] = [];
  const waiters = new Set<{ match: (line: LogEntry) => boolean; resolve: (line: LogEntry) => void }>();
  let output = "";
  let port = 0;
  for (const stream of [child.stdout!, child.stderr!]) {
    let rest = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      output += chunk;
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      for (const text of parts) {
        const line = JSON.parse(text) as LogEntry;
        const listening = /^listening on .*:(\d+)$/.exec(line.message);
        if (listening) port = Number(listening[1]);
        lines.push(line);
        for (const waiter of waiters) {
          if (!waiter.match(line)) continue;
          waiters.delete(waiter);
          waiter.resolve(line);
        }
      }
    });
  }
  const exited = new Promise<{ code: number | null; output: string }>((resolve) =>
    child.once("exit", (code) => setImmediate(() => resolve({ code, output }))),
  );
  return {
    child,
    lines,
    line: (match) => {
      const seen = lines.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.add({ match, resolve }));
    },
    exited,
    url: (path) => `http://127.0.0.1:${port}${path}`,
  };
}

/** A fresh random password for each of the app's NATS users, keyed by user name. */
export function natsPasswords(users: NatsUsers): Record<string, string> {
  const passwords: Record<string, string> = {};
  for (const user of [...Object.values(users.functions), users.control, users.admin]) {
    passwords[user.user] = randomBytes(18).toString("base64url");
  }
  return passwords;
}

/** A connection as the app's admin user, the one a deploy provisions with. */
export function connectAsAdmin(
  url: string,
  users: NatsUsers,
  passwords: Record<string, string>,
): Promise<NatsConnection> {
  return connect({
    servers: url,
    user: users.admin.user,
    pass: passwords[users.admin.user]!,
    inboxPrefix: users.admin.inboxPrefix,
  });
}

/** The JSON bodies stored in queue `queue`'s stream, in stream order. */
export async function storedBodies<T = unknown>(nc: NatsConnection, queue: string, prefix?: string): Promise<T[]> {
  const jsm = await jetstreamManager(nc);
  const { stream } = queueNames(queue, prefix ? { prefix } : {});
  const info = await jsm.streams.info(stream);
  const found: T[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const stored = await jsm.streams.getMessage(stream, { seq }).catch(() => null);
    if (stored) found.push(stored.json<T>());
  }
  return found;
}

/** Puts events on bus `bus` of `graph` as a binding does. */
export function putEvents(
  nc: NatsConnection,
  graph: Graph,
  prefix: string,
  bus: string,
  entries: Parameters<ReturnType<typeof jetStreamBusTransport>["put"]>[0],
) {
  const spec = resourcesOf(graph, "bus").find((resource) => resource.name === bus)!.spec;
  return jetStreamBusTransport(nc, bus, spec, prefix).put(entries);
}
