import { type ResourceOf, scheduleExpressionOf } from "@nimbus/core";
import * as pulumi from "@pulumi/pulumi";

/**
 * A schedule: fired by the control role from the graph (one tick once, recorded in a
 * JetStream KV bucket it provisions), so it has no Docker resource; the component carries
 * its expression and target.
 */
export class DockerSchedule extends pulumi.ComponentResource {
  /** `cron 0 2 * * * (Europe/Berlin)`, `rate 5 minutes (UTC)`. */
  readonly expression: string;
  readonly target: string;

  constructor(name: string, args: { schedule: ResourceOf<"schedule"> }, opts?: pulumi.ComponentResourceOptions) {
    super("nimbus:docker:Schedule", name, {}, opts);
    const { spec } = args.schedule;
    const { timezone, ...when } = scheduleExpressionOf(spec);
    this.expression = `${Object.entries(when)
      .map(([key, value]) => `${key} ${value}`)
      .join(" ")} (${timezone})`;
    this.target = `${spec.target.kind}:${spec.target.name}`;
    this.registerOutputs({ expression: this.expression, target: this.target });
  }
}
