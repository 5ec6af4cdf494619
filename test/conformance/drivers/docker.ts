// The docker target: the app deployed on the Docker engine through the Docker target's
// program (DockerApp under the engine mocks, test/support/docker/deploy.ts) with the local
// test images: NATS, the store, the provision run, the control role, one container per
// function replica and Caddy as the gateway. The test talks to it from outside, as the
// processes driver does: routes through the gateway, sends and puts as the NATS admin
// user (the host reaches the app's network directly), buckets with the control role's
// store key, schedules by a trigger request to the control role. Real time only.
import { rm } from "node:fs/promises";
import { DeleteObjectsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { resourcesOf, scheduleTriggerSubject } from "@nimbus/core";
import type { BucketClient, BusClient } from "@nimbus/runtime";
import { JetStreamQueues, jetStreamBusTransport, QueueAdmin, s3Transport } from "@nimbus/runtime/host";
import { bucketClient, busClient } from "@nimbus/runtime/target";
import { copyApp } from "../../support/app-copy.ts";
import { DockerDeployment } from "../../support/docker/deploy.ts";
import { dockerAvailable } from "../../support/docker/engine.ts";
import { buildTestImages } from "../../support/docker/images.ts";
import type { Deployment, DeployOptions, QueueHandle, S3Access, ScheduleHandle, TargetDriver } from "../driver.ts";
import { jetStreamIdle, purgeStreams, queueHandle } from "./deployed/jetstream.ts";

// Built once per test process: a second call only hashes the files.
let images: Promise<unknown> | undefined;

class DockerConformanceDeployment implements Deployment {
  readonly root: string;
  readonly #deployment: DockerDeployment;
  readonly #removeCopy: () => Promise<void>;
  #nc!: NatsConnection;
  #queues!: JetStreamQueues;
  #admin!: QueueAdmin;
  #s3!: S3Client;
  #closed = false;

  private constructor(root: string, deployment: DockerDeployment, removeCopy: () => Promise<void>) {
    this.root = root;
    this.#deployment = deployment;
    this.#removeCopy = removeCopy;
  }

  static async deploy(appDir: string): Promise<DockerConformanceDeployment> {
    images ??= buildTestImages();
    await images;
    const copy = await copyApp(appDir);
    let deployment: DockerDeployment | undefined;
    try {
      deployment = await DockerDeployment.deploy(copy.dir);
      const deployed = new DockerConformanceDeployment(copy.dir, deployment, copy.remove);
      await deployed.#connect();
      return deployed;
    } catch (error) {
      await deployment?.destroy().catch(() => {});
      await copy.remove();
      throw error;
    }
  }

  get #prefix(): string {
    return this.#deployment.names.prefix;
  }

  /** As the admin: the only user that reads every stream's state; it reconnects across NATS restarts. */
  async #connect(): Promise<void> {
    const login = this.#deployment.natsLogin("nimbus-admin");
    this.#nc = await connect({
      // By its address on the app's network, which a NATS restart may change: connect anew then.
      servers: await this.#deployment.natsUrl(),
      ...login,
      name: "nimbus-conformance",
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
    const graph = this.#deployment.graph;
    this.#queues = await JetStreamQueues.open({
      nc: this.#nc,
      queues: Object.fromEntries(resourcesOf(graph, "queue").map((queue) => [queue.name, queue.spec])),
      prefix: this.#prefix,
      inboxPrefix: login.inboxPrefix,
    });
    this.#admin = await QueueAdmin.open({ nc: this.#nc, graph, prefix: this.#prefix });
    const access = this.#deployment.s3();
    this.#s3 = new S3Client({ ...access, forcePathStyle: true });
  }

  async #disconnect(): Promise<void> {
    this.#s3?.destroy();
    await this.#nc?.close().catch(() => {});
  }

  fetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(new URL(path, this.#deployment.gatewayUrl), init);
  }

  bucket(name: string): BucketClient {
    const access = this.#deployment.s3();
    return bucketClient(
      name,
      s3Transport({ ...access, bucket: access.bucketName(name), name, conditionalWrites: "store" }),
    );
  }

  queue(name: string): QueueHandle {
    return queueHandle(name, this.#queues, this.#admin);
  }

  bus(name: string): BusClient {
    const spec = resourcesOf(this.#deployment.graph, "bus").find((bus) => bus.name === name)?.spec;
    if (!spec) throw new Error(`the app has no bus "${name}"`);
    return busClient(jetStreamBusTransport(this.#nc, name, spec, this.#prefix));
  }

  schedule(name: string): ScheduleHandle {
    return {
      trigger: async () => {
        const reply = await this.#nc.request(
          scheduleTriggerSubject({ prefix: this.#prefix }),
          JSON.stringify({ schedule: name }),
          { timeout: 10_000 },
        );
        const answer = reply.json<{ scheduledTime?: number; error?: { code: string; message: string } }>();
        if (answer.error) throw new Error(`${answer.error.code}: ${answer.error.message}`);
        return { scheduledTime: answer.scheduledTime! };
      },
    };
  }

  get s3(): S3Access {
    return this.#deployment.s3();
  }

  idle(): Promise<void> {
    return jetStreamIdle(this.#nc, this.#deployment.graph, this.#queues);
  }

  async advance(): Promise<void> {
    throw new Error("the docker target runs on the real clock: advance() cannot move it (canMoveTime is false)");
  }

  async now(): Promise<number> {
    return Date.now();
  }

  /** A redeploy of the edited copy: what changed is replaced, the rest kept. */
  async update(): Promise<void> {
    await this.#disconnect();
    await this.#deployment.redeploy();
    await this.#connect();
  }

  /**
   * Every container of the app restarted as `docker restart` does (SIGTERM, then a
   * start): NATS and the store first, one after the other, then every host at once.
   */
  async restart(): Promise<void> {
    await this.#disconnect();
    const { names } = this.#deployment;
    const containers = await this.#serving();
    const services = containers.filter((name) => name === names.nats || name === names.store);
    for (const container of services) await this.#deployment.restart(container);
    await Promise.all(
      containers.filter((name) => !services.includes(name)).map((name) => this.#deployment.restart(name)),
    );
    await this.#connect();
  }

  /**
   * Every container's main process SIGKILLed at once, as a host losing power would; their
   * restart policy starts them again (the hosts and the store reconnect to NATS).
   */
  async kill(): Promise<void> {
    await this.#disconnect();
    await Promise.all((await this.#serving()).map((container) => this.#deployment.crash(container)));
    await this.#connect();
  }

  /** The containers that run (not the provision run), NATS and the store first. */
  async #serving(): Promise<string[]> {
    const { names } = this.#deployment;
    const running = (await this.#deployment.containers())
      .filter((container) => container.Config.Labels["nimbus.role"] !== "provision")
      .map((container) => container.Name.replace(/^\//, ""));
    const first = [names.nats, names.store].filter((name) => running.includes(name));
    return [...first, ...running.filter((name) => !first.includes(name))];
  }

  /**
   * Empties every bucket, then purges every stream. The store notifies deletes too, and
   * handlers may write records in answer, so the buckets are emptied until they stay
   * empty once the app is idle; only then are the streams purged, with whatever those
   * deletes put on them. First the partial batches hosts hold are delivered: a purge
   * would not reach them.
   */
  async reset(): Promise<void> {
    await jetStreamIdle(this.#nc, this.#deployment.graph, this.#queues, { batches: true });
    const names = resourcesOf(this.#deployment.graph, "bucket").map((bucket) =>
      this.#deployment.s3().bucketName(bucket.name),
    );
    for (let round = 0; ; round++) {
      let deleted = 0;
      for (const name of names) {
        for (;;) {
          const page = await this.#s3.send(new ListObjectsV2Command({ Bucket: name, MaxKeys: 1000 }));
          const keys = (page.Contents ?? []).map((object) => ({ Key: object.Key! }));
          if (keys.length === 0) break;
          deleted += keys.length;
          await this.#s3.send(new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: keys, Quiet: true } }));
        }
      }
      if (deleted === 0 || round === 5) break;
      await this.idle();
    }
    await purgeStreams(this.#nc);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#disconnect();
      await this.#deployment.destroy();
    } finally {
      await this.#removeCopy();
      await rm(this.root, { recursive: true, force: true });
    }
  }
}

/** Containers on the Docker engine, applied by the Docker target's program; real time only. */
export const dockerDriver: TargetDriver = {
  name: "docker",
  canMoveTime: false,
  // The real-clock forms wait out back-offs, leases and retention (about a quarter of an
  // hour per target), and every restart or kill of a container costs seconds more; the
  // processes target runs them on the same hosts. NIMBUS_CONFORMANCE_DOCKER_REAL=1 runs them here.
  realClockForms:
    process.env.NIMBUS_CONFORMANCE_DOCKER_REAL === "1"
      ? undefined
      : "its real-clock form runs on the processes target, the same hosts without containers (NIMBUS_CONFORMANCE_DOCKER_REAL=1 runs it here)",
  async unavailable() {
    try {
      // Under CI=true dockerAvailable throws: the runner turns that into a failing test.
      return await dockerAvailable();
    } catch (error) {
      return (error as Error).message;
    }
  },
  async deploy(appDir: string, _options?: DeployOptions) {
    return DockerConformanceDeployment.deploy(appDir);
  },
};
