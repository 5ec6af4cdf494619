import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { natsInboxPrefix } from "@nimbus/core";
import { BucketRegistry } from "../registry.ts";
import { S3Endpoint } from "../s3/server.ts";
import type { StoreServiceConfig } from "./config.ts";
import { NotificationRelay } from "./relay.ts";

export type StoreLog = (level: "info" | "warn" | "error", message: string) => void;

/** A running store service. */
export interface StoreService {
  /** `http://<host>:<port>` of the S3 endpoint. */
  readonly url: string;
  /**
   * Stops gracefully: no new connections, the requests in flight are answered, the relay
   * finishes the publish in flight, then the buckets close.
   */
  stop(): Promise<void>;
}

/**
 * Runs the Nimbus store as a service: the buckets of `config` (durable when it says so),
 * the S3 endpoint with its keys and health probes, and, when a bucket has notifications,
 * the relay that publishes its outbox to NATS JetStream. NATS is connected in the
 * background: S3 serves at once, and changes wait in the outboxes until it is up.
 */
export async function startStoreService(config: StoreServiceConfig, log: StoreLog): Promise<StoreService> {
  const buckets = new Map(config.buckets.map((bucket) => [bucket.name, bucket]));
  const relay = new NotificationRelay({ buckets, log });
  const registry = new BucketRegistry({
    stateDir: config.dataDir,
    now: Date.now,
    durable: config.durable,
    onChange: (entry) => relay.kick(entry),
  });
  for (const line of registry.apply(
    config.buckets.map((bucket) => ({ name: bucket.name, spec: { notifications: bucket.notifications } })),
    true,
  )) {
    log("info", line);
  }

  let nc: NatsConnection | undefined;
  let closing = false;
  const connecting = config.nats
    ? connect({
        servers: config.nats.servers,
        user: config.nats.user,
        pass: config.nats.pass,
        token: config.nats.token,
        name: "nimbus-store",
        // A least-privilege user reads replies only under its own inbox prefix (core's natsPermissions).
        inboxPrefix: config.nats.user ? natsInboxPrefix(config.nats.user) : undefined,
        waitOnFirstConnect: true,
        maxReconnectAttempts: -1,
      }).then(
        async (connection) => {
          if (closing) {
            await connection.close();
            return;
          }
          nc = connection;
          relay.connect(jetstream(connection));
          log("info", `connected to NATS at ${connection.getServer()}`);
          // Changes a killed process recorded but did not get to publish.
          for (const entry of registry.all()) relay.kick(entry);
        },
        (error: unknown) => log("error", `NATS: ${(error as Error).message}`),
      )
    : Promise.resolve();

  const endpoint = new S3Endpoint({
    host: config.hostname,
    port: config.port,
    registry,
    keys: config.keys,
    region: config.region,
    now: Date.now,
    portInUseFix: "Stop that process or set NIMBUS_STORE_LISTEN to another address.",
    health: () => ({ waiting: config.nats && (!nc || nc.isClosed()) ? ["nats"] : [] }),
    log,
  });
  await endpoint.listen();
  log(
    "info",
    `serving ${config.buckets.length} bucket(s) over S3 at ${endpoint.url}, ${config.keys.length} key(s), ${config.durable ? "durable (fsync before every answer)" : "NOT durable (no fsync)"}`,
  );

  return {
    url: endpoint.url,
    async stop() {
      closing = true;
      await endpoint.drain();
      await relay.stop();
      if (nc) await nc.drain().catch(() => nc?.close());
      else void connecting;
      registry.close();
    },
  };
}
