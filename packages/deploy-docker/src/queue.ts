import { queueNames } from "@nimbus/core";
import * as pulumi from "@pulumi/pulumi";
import type { DockerNames } from "./naming.ts";

/**
 * A queue: a JetStream stream that the control role provisions at start from the graph
 * (Pulumi has no NATS provider, and the stream must follow the spec's retention and size
 * on every start), so the component only carries its names.
 */
export class DockerQueue extends pulumi.ComponentResource {
  readonly streamName: string;
  readonly subjects: string;

  constructor(name: string, args: { queue: string; names: DockerNames }, opts?: pulumi.ComponentResourceOptions) {
    super("nimbus:docker:Queue", name, {}, opts);
    const names = queueNames(args.queue, { prefix: args.names.prefix });
    this.streamName = names.stream;
    this.subjects = names.subjects;
    this.registerOutputs({ streamName: this.streamName, subjects: this.subjects });
  }
}
