import { type Graph, natsPermissions } from "@nimbus/core";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { healthcheck, healthPaths, hostPort } from "./function.ts";
import { graphPath, hostEntry } from "./images.ts";
import type { DockerNames } from "./naming.ts";

/** The control role's variables that hold no secret. */
export function controlEnvs(
  graph: Graph,
  names: DockerNames,
  natsUrl: string,
  s3?: { endpoint: string; region: string },
) {
  const envs = [
    "NIMBUS_ROLE=control",
    // A file of the graph image, not a variable: one variable holds at most 128 KiB on Linux.
    `NIMBUS_GRAPH_FILE=${graphPath}`,
    `NIMBUS_PORT=${hostPort}`,
    `NIMBUS_PREFIX=${names.prefix}`,
    `NIMBUS_NATS_URL=${natsUrl}`,
    `NIMBUS_NATS_USER=${natsPermissions(graph, { prefix: names.prefix }).control.user}`,
  ];
  if (s3) envs.push(`NIMBUS_S3_ENDPOINT=${s3.endpoint}`, `NIMBUS_S3_REGION=${s3.region}`);
  return envs;
}

export interface DockerControlArgs {
  graph: Graph;
  names: DockerNames;
  /** The graph image's tag. */
  image: string;
  graphImage: pulumi.Resource;
  natsUrl: string;
  s3?: { endpoint: string; region: string };
  secretEnvs: pulumi.Input<string>[];
  network: docker.Network;
  dependsOn: pulumi.Resource[];
}

/**
 * The control role: routes bus events, fires schedules (one tick once), relays bucket
 * notifications and moves dead letters. One container, started after the provision run
 * (provision.ts) created the streams it reads.
 */
export class DockerControl extends pulumi.ComponentResource {
  readonly container: docker.Container;

  constructor(name: string, args: DockerControlArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nimbus:docker:Control", name, {}, opts);
    const { names } = args;
    this.container = new docker.Container(
      names.control,
      {
        name: names.control,
        image: args.image,
        command: ["node", hostEntry],
        envs: [...controlEnvs(args.graph, names, args.natsUrl, args.s3), ...args.secretEnvs],
        user: "node",
        readOnly: true,
        tmpfs: { "/tmp": "rw,noexec,nosuid,size=64m" },
        networksAdvanced: [{ name: args.network.name }],
        restart: "unless-stopped",
        healthcheck: healthcheck(healthPaths.ready),
        labels: [
          { label: "nimbus.app", value: args.graph.app },
          { label: "nimbus.prefix", value: names.prefix },
          { label: "nimbus.role", value: "control" },
        ],
      },
      { parent: this, dependsOn: [args.graphImage, ...args.dependsOn] },
    );
    this.registerOutputs({ container: this.container.name });
  }
}
