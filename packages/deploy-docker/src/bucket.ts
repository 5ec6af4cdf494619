import * as pulumi from "@pulumi/pulumi";
import type { DockerNames } from "./naming.ts";

/**
 * A bucket. It has no Docker resource of its own: the store creates it at start from its
 * configuration file (store.ts), and an external S3 endpoint must already hold it. The
 * component carries its physical name as an output.
 */
export class DockerBucket extends pulumi.ComponentResource {
  readonly bucketName: string;

  constructor(name: string, args: { bucket: string; names: DockerNames }, opts?: pulumi.ComponentResourceOptions) {
    super("nimbus:docker:Bucket", name, {}, opts);
    this.bucketName = args.names.bucket(args.bucket);
    this.registerOutputs({ bucketName: this.bucketName });
  }
}
