import { type Graph, natsPermissions } from "@nimbus/core";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { graphPath, hostEntry } from "./images.ts";
import type { DockerNames } from "./naming.ts";

/** The provision run's variables that hold no secret: the graph is a file of its image, so its size is no limit. */
export function provisionEnvs(graph: Graph, names: DockerNames, natsUrl: string): string[] {
  return [
    "NIMBUS_ROLE=provision",
    `NIMBUS_GRAPH_FILE=${graphPath}`,
    `NIMBUS_PREFIX=${names.prefix}`,
    `NIMBUS_NATS_URL=${natsUrl}`,
    `NIMBUS_NATS_USER=${natsPermissions(graph, { prefix: names.prefix }).admin.user}`,
  ];
}

export interface DockerProvisionArgs {
  graph: Graph;
  names: DockerNames;
  /** The graph image's tag: the host and the graph. */
  image: string;
  graphImage: pulumi.Resource;
  natsUrl: string;
  /** `NIMBUS_NATS_PASSWORD=<the admin's password>`: given to this container only. */
  adminPassword: pulumi.Input<string>;
  network: docker.Network;
  nats: pulumi.Resource;
}

/**
 * A one-shot container that creates or updates the app's JetStream streams, consumers
 * and KV bucket as the NATS admin user, then exits. Pulumi waits for its exit (`attach`),
 * and every host depends on it, so no host starts before its streams exist. It runs again
 * whenever the graph changes (its inputs change, so it is replaced); the admin's password
 * is in no container that keeps running.
 */
export class DockerProvision extends pulumi.ComponentResource {
  readonly container: docker.Container;

  constructor(name: string, args: DockerProvisionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nimbus:docker:Provision", name, {}, opts);
    const { names } = args;
    this.container = new docker.Container(
      names.provision,
      {
        name: names.provision,
        image: args.image,
        command: ["node", hostEntry],
        envs: [...provisionEnvs(args.graph, names, args.natsUrl), args.adminPassword],
        user: "node",
        readOnly: true,
        networksAdvanced: [{ name: args.network.name }],
        // Runs once: Pulumi waits for the exit and keeps the log; nothing restarts it.
        attach: true,
        logs: true,
        mustRun: false,
        restart: "no",
        labels: [
          { label: "nimbus.app", value: args.graph.app },
          { label: "nimbus.prefix", value: names.prefix },
          { label: "nimbus.role", value: "provision" },
        ],
      },
      { parent: this, dependsOn: [args.graphImage, args.nats] },
    );
    this.registerOutputs({ exitCode: this.container.exitCode });
  }
}
