import type { Graph } from "@nimbus/core";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { deriveAccessKey } from "./credentials.ts";
import { healthcheck, healthPaths } from "./function.ts";
import { hostEntry } from "./images.ts";
import type { DockerNames } from "./naming.ts";

export const storePort = 9000;
/** Where the store's configuration file lands in its container. */
export const storeConfigPath = "/etc/nimbus/store.json";
/** The store's data, on its volume; the base image creates it owned by the `node` user. */
export const dataDir = "/nimbus/data";

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
 * The file the store reads at start: the buckets to create (by physical name, with the
 * app's name for each) and the keys it accepts, each with the buckets it opens.
 */
export function storeConfig(graph: Graph, names: DockerNames, seed: string): string {
  const buckets = graph.resources
    .filter((resource) => resource.kind === "bucket")
    .map((bucket) => ({ name: bucket.name, physical: names.bucket(bucket.name) }));
  const keys = storePrincipals(graph, names).map(({ principal, buckets }) => ({
    principal,
    ...deriveAccessKey(seed, principal),
    buckets,
  }));
  return `${JSON.stringify({ buckets, keys }, null, 2)}\n`;
}

export interface DockerStoreArgs {
  graph: Graph;
  names: DockerNames;
  /** The base image's tag (Node and the host, which runs the store too). */
  image: string;
  baseImage: pulumi.Resource;
  credentialSeed: pulumi.Input<string>;
  network: docker.Network;
  /** The host port the store's S3 endpoint is published on, bound to 127.0.0.1 only. */
  publishPort: number;
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
    const config = pulumi.secret(
      pulumi.output(args.credentialSeed).apply((seed) => storeConfig(args.graph, names, seed)),
    );
    const volume = new docker.Volume(names.storeVolume, { name: names.storeVolume }, { parent: this });
    this.container = new docker.Container(
      names.store,
      {
        name: names.store,
        image: args.image,
        command: ["node", hostEntry],
        // NIMBUS_ROLE=store: the store (@nimbus/store) runs in the host image; its variables
        // follow the host's naming until the store's own reader exists.
        envs: [
          "NIMBUS_ROLE=store",
          `NIMBUS_PORT=${storePort}`,
          `NIMBUS_PREFIX=${names.prefix}`,
          `NIMBUS_STORE_CONFIG=${storeConfigPath}`,
          `NIMBUS_STORE_DATA=${dataDir}`,
        ],
        // Written before the start, so the root file system stays writable; the data is on the volume.
        uploads: [{ file: storeConfigPath, content: config }],
        mounts: [{ type: "volume", source: volume.name, target: dataDir }],
        user: "node",
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
      { parent: this, dependsOn: [args.baseImage] },
    );
    this.registerOutputs({ endpoint: this.endpoint });
  }
}
