import { type Graph, type NatsUser, natsPermissions, renderNatsConfig } from "@nimbus/core";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { deriveSecret } from "./credentials.ts";
import type { DockerNames } from "./naming.ts";

/** Who publishes bucket notifications: the store, or the functions' bindings when an external S3 endpoint is set. */
type BucketNotifications = "store" | "bindings";

export const natsPort = 4222;
export const natsMonitorPort = 8222;

/** Every NATS user of the app, flat: one per function, the control role and the admin (core's `natsPermissions`). */
export function natsUserList(
  graph: Graph,
  names: DockerNames,
  bucketNotifications: BucketNotifications = "store",
): NatsUser[] {
  const users = natsPermissions(graph, { prefix: names.prefix, bucketNotifications });
  return [...Object.values(users.functions), users.control, users.admin, ...(users.store ? [users.store] : [])];
}

/**
 * The NATS server's configuration: core's, listening on every address of the container,
 * JetStream on the volume, plus the monitoring port its health check asks.
 */
export function natsServerConfig(
  graph: Graph,
  names: DockerNames,
  passwords: Record<string, string>,
  bucketNotifications: BucketNotifications = "store",
): string {
  const users = natsPermissions(graph, { prefix: names.prefix, bucketNotifications });
  const config = renderNatsConfig(users, {
    app: graph.app,
    passwords,
    storeDir: "/data",
    listen: `0.0.0.0:${natsPort}`,
  });
  return `${config}http_port: ${natsMonitorPort}\n`;
}

/** The password of NATS user `user`, derived from the stack's seed. */
export const natsPassword = (seed: string, user: string): string => deriveSecret(seed, `nats-password:${user}`);

export interface DockerNatsArgs {
  graph: Graph;
  names: DockerNames;
  image: string;
  credentialSeed: pulumi.Input<string>;
  network: docker.Network;
  /** `"bindings"` when an external S3 endpoint is set: the functions publish bucket notifications. @default "store" */
  bucketNotifications?: BucketNotifications;
}

/** NATS with JetStream on a volume, its users and permissions generated from the graph. */
export class DockerNats extends pulumi.ComponentResource {
  /** `nats://<container>:4222`, on the app's network. */
  readonly url: string;
  readonly container: docker.Container;

  constructor(name: string, args: DockerNatsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nimbus:docker:Nats", name, {}, opts);
    const { names } = args;
    this.url = `nats://${names.nats}:${natsPort}`;
    const users = natsUserList(args.graph, names, args.bucketNotifications);
    const config = pulumi.secret(
      pulumi
        .output(args.credentialSeed)
        .apply((seed) =>
          natsServerConfig(
            args.graph,
            names,
            Object.fromEntries(users.map((user) => [user.user, natsPassword(seed, user.user)])),
            args.bucketNotifications,
          ),
        ),
    );
    const image = new docker.RemoteImage(
      `${names.nats}-image`,
      { name: args.image, keepLocally: true },
      { parent: this },
    );
    const volume = new docker.Volume(names.natsVolume, { name: names.natsVolume }, { parent: this });
    this.container = new docker.Container(
      names.nats,
      {
        name: names.nats,
        image: image.imageId,
        command: ["nats-server", "--config", "/etc/nats/nimbus.conf"],
        uploads: [{ file: "/etc/nats/nimbus.conf", content: config }],
        mounts: [{ type: "volume", source: volume.name, target: "/data" }],
        networksAdvanced: [{ name: args.network.name }],
        restart: "unless-stopped",
        healthcheck: {
          tests: [
            "CMD",
            "wget",
            "-q",
            "-O",
            "/dev/null",
            `http://127.0.0.1:${natsMonitorPort}/healthz?js-enabled-only=true`,
          ],
          interval: "10s",
          timeout: "3s",
          retries: 3,
          startPeriod: "5s",
        },
        labels: [
          { label: "nimbus.app", value: args.graph.app },
          { label: "nimbus.prefix", value: names.prefix },
          { label: "nimbus.role", value: "nats" },
        ],
      },
      { parent: this },
    );
    this.registerOutputs({ url: this.url });
  }
}
