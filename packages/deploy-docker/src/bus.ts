import { busNames } from "@nimbus/core";
import * as pulumi from "@pulumi/pulumi";
import type { DockerNames } from "./naming.ts";

/**
 * An event bus and its rules: a JetStream stream read by the control role's router, which
 * provisions it at start (as a queue's); the component only carries its names.
 */
export class DockerBus extends pulumi.ComponentResource {
  readonly streamName: string;
  readonly subject: string;

  constructor(name: string, args: { bus: string; names: DockerNames }, opts?: pulumi.ComponentResourceOptions) {
    super("nimbus:docker:Bus", name, {}, opts);
    const names = busNames(args.bus, { prefix: args.names.prefix });
    this.streamName = names.stream;
    this.subject = names.subject;
    this.registerOutputs({ streamName: this.streamName, subject: this.subject });
  }
}
