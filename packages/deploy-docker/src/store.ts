import { type Graph, natsPermissions } from "@nimbus/core";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { deriveAccessKey } from "./credentials.ts";
import { healthcheck, healthPaths } from "./function.ts";
import { graphPath } from "./images.ts";
import type { DockerNames } from "./naming.ts";

export const storePort = 9000;
/** The store's data, on its volume; the base image creates it owned by the `node` user. */
export const dataDir = "/nimbus/data";
/** The store service's entry inside the base image (project.ts `hostLayout.store`). */
export const storeEntry = "/nimbus/host/store/main.js";

/** Who holds a store key, and the buckets it opens: a function's links, or every bucket for the control role. */
export interface StorePrincipal {
  /** `function:<name>` or `control`. */
  principal: string;
  /** Physical bucket names. */
  buckets: string[];
}

/**
 * The store's keys, least privilege from the graph: one per function that links a
 * bucket (those buckets only), and the control role's (every bucket: it relays the
 * notifications).
 */
export function storePrincipals(graph: Graph, names: DockerNames): StorePrincipal[] {
  const all: string[] = [];
  const principals: StorePrincipal[] = [];
  for (const resource of graph.resources) {
    if (resource.kind === "bucket") all.push(names.bucket(resource.name));
    if (resource.kind !== "function") continue;
    const buckets = resource.spec.links
      .filter((link) => link.kind === "bucket")
      .map((link) => names.bucket(link.resource));
    if (buckets.length > 0) principals.push({ principal: `function:${resource.name}`, buckets: buckets.sort() });
  }
  principals.push({ principal: "control", buckets: all.sort() });
  return principals;
}

/**
 * The store's `NIMBUS_STORE_KEYS`: one key per principal, each opening only its
 * buckets (physical names). The store checks every request against it.
 */
export function storeKeys(graph: Graph, names: DockerNames, seed: string): string {
  const keys = storePrincipals(graph, names).map(({ principal, buckets }) => ({
    ...deriveAccessKey(seed, principal),
    buckets,
  }));
  return JSON.stringify(keys);
}

/**
 * The store service's variables that hold no secret (its keys come as a secret variable,
 * NIMBUS_STORE_KEYS). It serves the graph's buckets (by physical name, from the graph
 * image's graph and the prefix) and, when a bucket notifies a bus,
 * publishes to NATS as core's `nimbus-store` user, which may put on those buses only;
 * the password comes with the secrets.
 */
export function storeEnvs(graph: Graph, names: DockerNames, natsUrl: string): string[] {
  const envs = [
    `NIMBUS_STORE_LISTEN=0.0.0.0:${storePort}`,
    `NIMBUS_STORE_DATA=${dataDir}`,
    `NIMBUS_GRAPH_FILE=${graphPath}`,
    `NIMBUS_PREFIX=${names.prefix}`,
  ];
  const store = natsPermissions(graph, { prefix: names.prefix }).store;
  if (store) envs.push(`NIMBUS_NATS_URL=${natsUrl}`, `NIMBUS_NATS_USER=${store.user}`);
  return envs;
}

/** Whether a bucket of the app notifies a bus: then the store needs NATS. */
export const notifies = (graph: Graph): boolean =>
  graph.resources.some((resource) => resource.kind === "bucket" && resource.spec.notifications.length > 0);

export interface DockerStoreArgs {
  graph: Graph;
  names: DockerNames;
  /** The graph image's tag (Node, the host, the store service and the graph). */
  image: string;
  graphImage: pulumi.Resource;
  credentialSeed: pulumi.Input<string>;
  network: docker.Network;
  natsUrl: string;
  /** `NIMBUS_NATS_PASSWORD=<the store user's>`, when a bucket notifies a bus. */
  natsPassword?: pulumi.Input<string>;
  /** The host port the store's S3 endpoint is published on, bound to 127.0.0.1 only. */
  publishPort: number;
  dependsOn: pulumi.Resource[];
}

/** The Nimbus store on a volume: the app's buckets behind an S3 endpoint, one key per function. */
export class DockerStore extends pulumi.ComponentResource {
  /** The S3 endpoint on the app's network. */
  readonly endpoint: string;
  readonly container: docker.Container;

  constructor(name: string, args: DockerStoreArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nimbus:docker:Store", name, {}, opts);
    const { names } = args;
    this.endpoint = `http://${names.store}:${storePort}`;
    const keys = pulumi.secret(
      pulumi.output(args.credentialSeed).apply((seed) => `NIMBUS_STORE_KEYS=${storeKeys(args.graph, names, seed)}`),
    );
    const volume = new docker.Volume(names.storeVolume, { name: names.storeVolume }, { parent: this });
    const withNats = notifies(args.graph) && args.natsPassword !== undefined;
    this.container = new docker.Container(
      names.store,
      {
        name: names.store,
        image: args.image,
        command: ["node", storeEntry],
        envs: [...storeEnvs(args.graph, names, args.natsUrl), keys, ...(withNats ? [args.natsPassword!] : [])],
        mounts: [{ type: "volume", source: volume.name, target: dataDir }],
        user: "node",
        readOnly: true,
        tmpfs: { "/tmp": "rw,noexec,nosuid,size=64m" },
        networksAdvanced: [{ name: args.network.name }],
        ports: [{ internal: storePort, external: args.publishPort, ip: "127.0.0.1" }],
        restart: "unless-stopped",
        healthcheck: healthcheck(healthPaths.ready, storePort),
        labels: [
          { label: "nimbus.app", value: args.graph.app },
          { label: "nimbus.prefix", value: names.prefix },
          { label: "nimbus.role", value: "store" },
        ],
      },
      { parent: this, dependsOn: [args.graphImage, ...args.dependsOn] },
    );
    this.registerOutputs({ endpoint: this.endpoint });
  }
}
