import type { NatsConnection } from "@nats-io/transport-node";
import { type Chain, physicalName, resourcesOf } from "@nimbus/core";
import { type BucketTransport, bucketClient } from "../bucket.ts";
import { busClient } from "../bus.ts";
import type { FunctionClient } from "../function.ts";
import { queueClient } from "../queue.ts";
import { jetStreamBusTransport } from "./bus.ts";
import type { FunctionRoleConfig } from "./config.ts";
import type { JetStreamQueues } from "./queue.ts";

/** The handler's `env`, and what to close with it. */
export interface HostEnv {
  env: Readonly<Record<string, unknown>>;
  /** Closes the connections the bindings keep (the S3 clients'). */
  close(): void;
}

/**
 * The handler's `env`: the function's config values and secrets, and one binding per
 * link, each the runtime's client over this target's transport: a queue over JetStream
 * (`queues`), a bus over a publish to its stream, a bucket over S3, a linked function
 * over HTTP to its host. The queue, bus and bucket clients pass `chain()`, the running
 * invocation's chain, with what they send, put and write (docs/semantics.md "Recursive
 * loops"); a linked function's `fetch` is a request, which starts a chain of its own.
 */
export async function hostEnv(
  config: FunctionRoleConfig,
  nc: NatsConnection,
  queues: JetStreamQueues,
  chain: () => Chain | undefined = () => undefined,
  /** The host's own log lines (a notification a bus refuses). */
  log: (level: "error", message: string) => void = () => {},
): Promise<HostEnv> {
  const env: Record<string, unknown> = { ...config.spec.config, ...config.secrets };
  const closers: (() => void)[] = [];
  const buses = new Map(resourcesOf(config.graph, "bus").map((bus) => [bus.name, bus.spec]));
  // With any S3 endpoint but the Nimbus store, the bindings publish the bucket notifications (host/bucket-notifications.ts).
  const notifying = async (transport: BucketTransport, bucket: string): Promise<BucketTransport> => {
    if (config.s3?.notify !== "bindings") return transport;
    const { notifyingTransport } = await import("./bucket-notifications.ts");
    const spec = resourcesOf(config.graph, "bucket").find((resource) => resource.name === bucket)!.spec;
    return notifyingTransport(transport, { nc, bucket, spec, buses, prefix: config.prefix, log });
  };
  for (const link of config.spec.links) {
    if (link.kind === "queue") {
      env[link.name] = queueClient(link.resource, queues.transport(link.resource), chain);
    } else if (link.kind === "bus") {
      // Present: readConfig checked every link against the graph.
      const spec = buses.get(link.resource)!;
      env[link.name] = busClient(jetStreamBusTransport(nc, link.resource, spec, config.prefix), chain);
    } else if (link.kind === "bucket") {
      const s3 = config.s3!;
      // Loaded only for a function that links a bucket: otherwise the AWS SDK would be much of the host's memory.
      const { s3Transport } = await import("./bucket.ts");
      const transport = s3Transport({
        endpoint: s3.endpoint,
        presignEndpoint: s3.presignEndpoint,
        region: s3.region,
        credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
        bucket: physicalName(link.resource, "s3", config.prefix ? { prefix: config.prefix } : {}),
        name: link.resource,
      });
      closers.push(() => transport.destroy());
      env[link.name] = bucketClient(link.resource, await notifying(transport, link.resource), chain);
    } else {
      env[link.name] = functionClient(config.functionUrls[link.resource]!);
    }
  }
  return {
    env: Object.freeze(env),
    close: () => {
      for (const close of closers) close();
    },
  };
}

/**
 * A linked function's `fetch`, over HTTP to its host: the path and query of what the
 * handler passes are kept, its origin replaced by the host's, as in the emulator, where
 * a link reaches the function whatever origin the URL names.
 */
function functionClient(base: string): FunctionClient {
  const origin = new URL(base);
  return {
    fetch: (input, init) => {
      const request = new Request(typeof input === "string" ? new URL(input, origin) : input, init);
      const url = new URL(request.url);
      const target = new URL(`${url.pathname}${url.search}`, origin);
      return fetch(new Request(target, request));
    },
  };
}
