// The processes target: the app as it runs deployed, without containers. `nimbus build`
// bundles it; nats-server runs on the configuration the deploy targets render (a user per
// function); the object store runs (see processes/store.ts); every function gets a host
// process of its own (`node packages/runtime/src/host/main.ts`, configured only by its
// environment), and a control-role process routes bus events, fires schedules and moves
// the delayed messages of queues no function consumes. The test
// talks to it from outside: routes over HTTP, sends and puts through the runtime's clients
// over the host's transports, as the admin NATS user and the store's credentials.
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { type Graph, isErrorCode, NimbusError, physicalName, resourcesOf, scheduleTriggerSubject } from "@nimbus/core";
import type { BucketClient, BusClient } from "@nimbus/runtime";
import { JetStreamQueues, jetStreamBusTransport, provisionNats, QueueAdmin, s3Transport } from "@nimbus/runtime/host";
import { freePort } from "@nimbus/runtime/host/testing";
import { bucketClient, busClient } from "@nimbus/runtime/target";
import { build } from "nimbus";
import { copyApp } from "../../support/app-copy.ts";
import type { Deployment, DeployOptions, QueueHandle, S3Access, ScheduleHandle, TargetDriver } from "../driver.ts";
import { jetStreamIdle, purgeStreams, queueHandle } from "./deployed/jetstream.ts";
import { HostProcess } from "./processes/host-process.ts";
import { type Nats, type NatsLogin, natsUnavailable, startNats } from "./processes/nats.ts";
import { routeTable } from "./processes/routes.ts";
import { type Store, startStore } from "./processes/store.ts";

/** The prefix of every physical name (streams, buckets), as a stage would set it. */
const prefixOf = (graph: Graph) => `conf-${graph.app}`;

class ProcessesDeployment implements Deployment {
  readonly root: string;
  readonly #state: string;
  readonly #removeCopy: () => Promise<void>;
  readonly #nats: Nats;
  #store!: Store;
  #graph: Graph;
  #nc!: NatsConnection;
  #queues!: JetStreamQueues;
  #admin!: QueueAdmin;
  #route: (method: string, path: string) => string | undefined;
  #hosts = new Map<string, HostProcess>();
  #control: HostProcess | undefined;
  readonly #restarting = new Set<Promise<void>>();
  #closed = false;

  private constructor(root: string, state: string, removeCopy: () => Promise<void>, graph: Graph, nats: Nats) {
    this.root = root;
    this.#state = state;
    this.#removeCopy = removeCopy;
    this.#graph = graph;
    this.#nats = nats;
    this.#route = routeTable(graph);
  }

  static async deploy(appDir: string): Promise<ProcessesDeployment> {
    const copy = await copyApp(appDir);
    const state = await mkdtemp(join(tmpdir(), "nimbus-processes-"));
    const cleanups: (() => Promise<void>)[] = [() => rm(state, { recursive: true, force: true }), copy.remove];
    try {
      const { graph } = await build({ dir: copy.dir, out: join(copy.dir, ".nimbus", "dist") });
      const nats = await startNats(graph, join(state, "nats"), prefixOf(graph));
      cleanups.unshift(() => nats.stop());
      const deployment = new ProcessesDeployment(copy.dir, state, copy.remove, graph, nats);
      await deployment.#connect();
      cleanups.unshift(() => deployment.#nc.close());
      await deployment.#provision();
      // After the streams: the store publishes notifications onto the buses' streams.
      deployment.#store = await startStore(join(state, "store"), {
        graph,
        prefix: prefixOf(graph),
        natsUrl: nats.url,
        nats: nats.store,
      });
      cleanups.unshift(() => deployment.#store.stop());
      await deployment.#startHosts();
      return deployment;
    } catch (error) {
      for (const cleanup of cleanups) await cleanup().catch(() => {});
      throw error;
    }
  }

  get #prefix(): string {
    return prefixOf(this.#graph);
  }

  async #connect(): Promise<void> {
    const { user, pass, inboxPrefix } = this.#nats.admin;
    this.#nc = await connect({
      servers: this.#nats.url,
      user,
      pass,
      inboxPrefix,
      name: "nimbus-conformance",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
  }

  /** Streams, consumers and buckets of the graph, as the admin: hosts may create nothing. */
  async #provision(): Promise<void> {
    await provisionNats(this.#nc, this.#graph, { prefix: this.#prefix });
    this.#queues = await JetStreamQueues.open({
      nc: this.#nc,
      queues: Object.fromEntries(resourcesOf(this.#graph, "queue").map((queue) => [queue.name, queue.spec])),
      prefix: this.#prefix,
      inboxPrefix: this.#nats.admin.inboxPrefix,
    });
    this.#admin = await QueueAdmin.open({ nc: this.#nc, graph: this.#graph, prefix: this.#prefix });
  }

  #bucketName(bucket: string): string {
    return physicalName(bucket, "s3", { prefix: this.#prefix });
  }

  #commonEnv(login: NatsLogin): Record<string, string> {
    return {
      NIMBUS_GRAPH: JSON.stringify(this.#graph),
      NIMBUS_NATS_URL: this.#nats.url,
      NIMBUS_NATS_USER: login.user,
      NIMBUS_NATS_PASSWORD: login.pass,
      NIMBUS_NATS_INBOX_PREFIX: login.inboxPrefix,
      NIMBUS_PREFIX: this.#prefix,
    };
  }

  /** The S3 variables of function `fn`'s host: its own store key, when it links a bucket. */
  #s3Env(fn: string): Record<string, string> {
    const key = this.#store.keyOf(fn);
    if (!key) return {};
    return {
      NIMBUS_S3_ENDPOINT: this.#store.endpoint,
      // The test, which uses the URLs, reaches the store where the hosts do.
      NIMBUS_S3_PRESIGN_ENDPOINT: this.#store.endpoint,
      NIMBUS_S3_REGION: this.#store.region,
      NIMBUS_S3_ACCESS_KEY_ID: key.accessKeyId,
      NIMBUS_S3_SECRET_ACCESS_KEY: key.secretAccessKey,
    };
  }

  /** One host per function and the control role, started together; resolves once every one is ready. */
  async #startHosts(): Promise<void> {
    const functions = resourcesOf(this.#graph, "function");
    // Ports are picked first, so each host knows the URLs of the functions it links.
    const ports = new Map<string, number>();
    for (const fn of functions) ports.set(fn.name, await freePort());
    const urls = Object.fromEntries([...ports].map(([name, port]) => [name, `http://127.0.0.1:${port}`]));
    const starting = functions.map((fn) =>
      this.#supervise(`function ${fn.name}`, ports.get(fn.name), {
        ...this.#commonEnv(this.#nats.login(fn.name)),
        NIMBUS_ROLE: "function",
        NIMBUS_FUNCTION: fn.name,
        NIMBUS_HANDLER: join(this.root, ".nimbus", "dist", "functions", `${fn.name}.mjs`),
        ...this.#s3Env(fn.name),
        NIMBUS_FUNCTION_URLS: JSON.stringify(urls),
      }).then((host) => {
        this.#hosts.set(fn.name, host);
      }),
    );
    starting.push(
      (async () => {
        this.#control = await this.#supervise("control", await freePort(), {
          ...this.#commonEnv(this.#nats.control),
          NIMBUS_ROLE: "control",
        });
      })(),
    );
    const results = await Promise.allSettled(starting);
    const failed = results.find((result) => result.status === "rejected");
    if (failed) {
      await this.#stopHosts("SIGKILL");
      throw failed.reason;
    }
  }

  /**
   * Starts a host and, like a container's restart policy, starts it again on the same
   * port whenever it ends on its own (a handler's `process.exit` ends the whole host).
   */
  async #supervise(label: string, port: number | undefined, env: Record<string, string>): Promise<HostProcess> {
    const host = await HostProcess.start(label, env, port);
    host.onCrash(() => {
      if (this.#closed) return;
      // A start that fails (the machine busy, the port taken) is tried again: a host given
      // up here would leave its queues undelivered for every later test.
      const startAgain = async (): Promise<HostProcess> => {
        for (let attempt = 1; ; attempt++) {
          try {
            return await this.#supervise(label, host.port, env);
          } catch (error) {
            if (this.#closed || attempt === 5) throw error;
            await new Promise((resolve) => setTimeout(resolve, 500 * attempt));
          }
        }
      };
      const again = startAgain().then((next) => {
        if (label === "control") this.#control = next;
        else this.#hosts.set(label.slice("function ".length), next);
      });
      this.#restarting.add(again);
      void again.catch(() => {}).finally(() => this.#restarting.delete(again));
    });
    return host;
  }

  async #stopHosts(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
    // A host being restarted after a crash is waited for, so it is stopped with the others.
    await Promise.allSettled([...this.#restarting]);
    const hosts = [...this.#hosts.values(), ...(this.#control ? [this.#control] : [])];
    this.#hosts = new Map();
    this.#control = undefined;
    await Promise.all(hosts.map((host) => (signal === "SIGTERM" ? host.stop() : host.kill())));
  }

  recentOutput(): string {
    const hosts = [...this.#hosts.values(), ...(this.#control ? [this.#control] : [])];
    return hosts.map((host) => `--- ${host.label}, its last output ---\n${host.output}`).join("\n");
  }

  fetch(path: string, init?: RequestInit): Promise<Response> {
    const url = new URL(path, "http://gateway");
    const fn = this.#route(init?.method ?? "GET", url.pathname);
    const host = fn === undefined ? undefined : this.#hosts.get(fn);
    if (!host) {
      return Promise.resolve(new Response(`no route for ${init?.method ?? "GET"} ${url.pathname}\n`, { status: 404 }));
    }
    return fetch(`${host.url}${url.pathname}${url.search}`, init);
  }

  bucket(name: string): BucketClient {
    return bucketClient(
      name,
      s3Transport({
        endpoint: this.#store.endpoint,
        region: this.#store.region,
        credentials: this.#store.credentials,
        bucket: this.#bucketName(name),
        name,
        conditionalWrites: this.#store.conditionalWrites,
      }),
    );
  }

  queue(name: string): QueueHandle {
    return queueHandle(name, this.#queues, this.#admin);
  }

  bus(name: string): BusClient {
    const spec = resourcesOf(this.#graph, "bus").find((bus) => bus.name === name)?.spec;
    if (!spec) throw new Error(`the app has no bus "${name}"`);
    return busClient(jetStreamBusTransport(this.#nc, name, spec, this.#prefix));
  }

  schedule(name: string): ScheduleHandle {
    // As `nimbus trigger` does: a request the control role answers (runtime's scheduler).
    return {
      trigger: async () => {
        const subject = scheduleTriggerSubject({ prefix: this.#prefix });
        const reply = await this.#nc.request(subject, JSON.stringify({ schedule: name }), { timeout: 20_000 });
        const answer = reply.json() as { scheduledTime: number } | { error: { code: string; message: string } };
        if ("error" in answer) {
          const { code, message } = answer.error;
          throw isErrorCode(code) ? new NimbusError(code, message) : new Error(`${code}: ${message}`);
        }
        return { scheduledTime: answer.scheduledTime };
      },
    };
  }

  get s3(): S3Access {
    return {
      endpoint: this.#store.endpoint,
      region: this.#store.region,
      credentials: this.#store.credentials,
      bucketName: (bucket) => this.#bucketName(bucket),
    };
  }

  /** Polls JetStream until nothing that runs has work (deployed/jetstream.ts). */
  async idle(): Promise<void> {
    await jetStreamIdle(this.#nc, this.#graph, this.#queues);
  }

  async advance(): Promise<void> {
    throw new Error("the processes target runs on the real clock: advance() cannot move it (canMoveTime is false)");
  }

  async now(): Promise<number> {
    return Date.now();
  }

  /** Rebuilds, applies the new graph's NATS users and layout, and restarts every host on it. */
  async update(): Promise<void> {
    const { graph } = await build({ dir: this.root, out: join(this.root, ".nimbus", "dist") });
    await this.#stopHosts("SIGTERM");
    this.#graph = graph;
    this.#route = routeTable(graph);
    if (await this.#nats.reconfigure(graph)) {
      // A fresh connection: requests made while the old one reconnects can time out.
      await this.#nc.close().catch(() => {});
      await this.#connect();
    }
    await this.#provision();
    await this.#store.reconfigure(graph, this.#nats.store);
    await this.#startHosts();
  }

  async restart(): Promise<void> {
    await this.#stopHosts("SIGTERM");
    await this.#nats.restart();
    await this.#store.restart();
    await this.#startHosts();
  }

  async kill(): Promise<void> {
    await Promise.all([this.#stopHosts("SIGKILL"), this.#nats.kill(), this.#store.kill()]);
    // NATS first: the store is ready only once it reaches NATS (to publish notifications).
    await this.#nats.start();
    await this.#store.start();
    await this.#startHosts();
  }

  /**
   * Empties every bucket (the store's data removed, so no deletion notifies a bus and no
   * change waits in its outbox), then purges every stream (queues, deliveries, buses,
   * schedule ticks).
   */
  async reset(): Promise<void> {
    // First the partial batches hosts hold are delivered: a purge would not reach them.
    await jetStreamIdle(this.#nc, this.#graph, this.#queues, { batches: true });
    await this.#store.empty();
    await purgeStreams(this.#nc);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#stopHosts("SIGTERM");
      await this.#nc.close().catch(() => {});
      await this.#nats.stop();
      await this.#store.stop();
    } finally {
      await rm(this.#state, { recursive: true, force: true });
      await this.#removeCopy();
    }
  }
}

/** Host processes with nats-server and the store; real time only. */
export const processesDriver: TargetDriver = {
  name: "processes",
  canMoveTime: false,
  async unavailable() {
    // Under CI=true the runner turns this reason into a failing test.
    return natsUnavailable();
  },
  async deploy(appDir: string, _options?: DeployOptions) {
    return ProcessesDeployment.deploy(appDir);
  },
};
