// nats-server for the processes target, run with the runtime's test starter
// (`startNatsServer`) on the configuration the deploy targets render: core's
// `renderNatsConfig`, one user per function, the control role, the admin and the store,
// each with its password and allow lists.
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { type Graph, type NatsUser, type NatsUsers, natsPermissions, natsString, renderNatsConfig } from "@nimbus/core";
import { type NatsServerPlace, natsServerMissing, startNatsServer } from "@nimbus/runtime/host/testing";

/** Why nats-server cannot run here, or undefined; never throws (the runner decides what CI does). */
export function natsUnavailable(): string | undefined {
  try {
    return natsServerMissing();
  } catch (error) {
    return (error as Error).message;
  }
}

/** A user's connection settings, as the host's NIMBUS_NATS_* variables and the driver's own client take them. */
export interface NatsLogin {
  user: string;
  pass: string;
  inboxPrefix: string;
}

export interface Nats {
  readonly url: string;
  /** The provisioner's and tools' user (stats, dead letters, redrive, purges, schedule triggers). */
  readonly admin: NatsLogin;
  readonly control: NatsLogin;
  /** The store service's user, when a bucket notifies a bus. */
  readonly store: NatsLogin | undefined;
  login(fn: string): NatsLogin;
  /**
   * Renders the configuration of `graph` again and, when it changed, restarts the server on
   * it (same port and storage); true when it did (then clients reconnect).
   */
  reconfigure(graph: Graph): Promise<boolean>;
  /** SIGTERM, then a start on the same port and storage. */
  restart(): Promise<void>;
  /** SIGKILL: JetStream flushes nothing. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts nats-server on the app's configuration. The starter writes its configuration
 * file once, beside the JetStream folder it picks; that file only includes `dir/nats.conf`,
 * which this renders, so a new configuration is applied by rewriting it and restarting
 * the server (same port, same streams; clients reconnect).
 */
export async function startNats(graph: Graph, dir: string, prefix: string | undefined): Promise<Nats> {
  await mkdir(dir, { recursive: true });
  const file = join(dir, "nats.conf");
  const passwords = new Map<string, string>();
  let users!: NatsUsers;
  let place!: NatsServerPlace;
  let rendered = "";

  /** Writes the configuration of `current`; false when it is what the server already runs. */
  const render = async (current: Graph): Promise<boolean> => {
    users = natsPermissions(current, prefix ? { prefix } : {});
    for (const user of [...Object.values(users.functions), users.control, users.admin, users.store]) {
      if (user && !passwords.has(user.user)) passwords.set(user.user, randomBytes(18).toString("base64url"));
    }
    const text = renderNatsConfig(users, { app: current.app, passwords: Object.fromEntries(passwords), ...place });
    if (text === rendered) return false;
    rendered = text;
    await writeFile(file, text);
    return true;
  };
  const login = (user: NatsUser): NatsLogin => ({
    user: user.user,
    pass: passwords.get(user.user)!,
    inboxPrefix: user.inboxPrefix,
  });

  // The place is known only inside the starter, before it writes its file: the first render is synchronous there.
  let first = "";
  const server = await startNatsServer({
    config: (given) => {
      place = given;
      users = natsPermissions(graph, prefix ? { prefix } : {});
      for (const user of [...Object.values(users.functions), users.control, users.admin, users.store]) {
        if (user) passwords.set(user.user, randomBytes(18).toString("base64url"));
      }
      first = renderNatsConfig(users, { app: graph.app, passwords: Object.fromEntries(passwords), ...place });
      writeFileSync(file, first);
      // nats-server resolves an include against the including file's folder, never as an absolute path.
      return `include ${natsString(relative(dirname(given.storeDir), file))}\n`;
    },
  });
  rendered = first;
  return {
    url: server.url,
    get admin() {
      return login(users.admin);
    },
    get control() {
      return login(users.control);
    },
    get store() {
      return users.store ? login(users.store) : undefined;
    },
    login: (fn) => {
      const user = users.functions[fn];
      if (!user) throw new Error(`the NATS configuration has no user for function "${fn}"`);
      return login(user);
    },
    reconfigure: async (current) => {
      if (!(await render(current))) return false;
      await server.restart();
      return true;
    },
    restart: () => server.restart(),
    kill: () => server.kill(),
    start: () => server.start(),
    stop: () => server.stop(),
  };
}
