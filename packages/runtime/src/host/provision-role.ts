import { connect } from "@nats-io/transport-node";
import { natsInboxPrefix } from "@nimbus/core";
import type { ProvisionRoleConfig } from "./config.ts";
import type { HostLogger } from "./log.ts";
import { provisionNats } from "./provision.ts";

/** How long the first connection may take: the NATS container may still be starting. */
const connectTimeout = 60_000;

/**
 * The one-shot provision run: connects as the admin user (the only one allowed to create
 * streams), makes the graph's JetStream layout exist (provisionNats, idempotent) and
 * closes. The Docker target runs it in a container of its own before any host starts, so
 * the admin's password is in no long-running container.
 */
export async function provisionRole(config: ProvisionRoleConfig, logger: HostLogger): Promise<void> {
  const nc = await connect({
    servers: config.nats.servers,
    user: config.nats.user,
    pass: config.nats.pass,
    token: config.nats.token,
    name: "nimbus-provision",
    inboxPrefix: config.nats.user ? natsInboxPrefix(config.nats.user) : undefined,
    waitOnFirstConnect: true,
    timeout: connectTimeout,
    maxReconnectAttempts: -1,
  });
  try {
    const report = await provisionNats(nc, config.graph, config.prefix ? { prefix: config.prefix } : {});
    const streams = Object.keys(report.streams);
    logger.info(`provisioned ${streams.length} stream(s): ${streams.join(", ")}`);
  } finally {
    await nc.drain().catch(() => {});
  }
}
