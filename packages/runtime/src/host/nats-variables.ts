import type { NatsConfig } from "./config.ts";

/** Reports a variable whose value is wrong; the caller words it with what it expects. */
type NatsProblem = (variable: "NIMBUS_NATS_URL" | "NIMBUS_NATS_USER", found: string, fix?: string) => void;

/**
 * `NIMBUS_NATS_URL` and its credentials, read the same way by every process that
 * connects to the app's NATS (the host, the store service): comma-separated servers,
 * each `scheme://host[:port]` or `host:port`; a password only with a user.
 */
export function readNatsVariables(
  url: string,
  credentials: { user: string | undefined; pass: string | undefined; token: string | undefined },
  problem: NatsProblem,
): NatsConfig {
  const servers = url
    .split(",")
    .map((server) => server.trim())
    .filter((server) => server !== "");
  const bad = servers.find(
    (server) => !/^(nats|tls|ws|wss):\/\/[^/\s]+\/?$/.test(server) && !/^[^/\s:]+:\d+$/.test(server),
  );
  if (bad !== undefined || servers.length === 0) problem("NIMBUS_NATS_URL", `is "${url}"`);
  const { user, pass, token } = credentials;
  if (pass !== undefined && user === undefined) {
    problem("NIMBUS_NATS_USER", "is not set while NIMBUS_NATS_PASSWORD is", "Set both, or neither.");
  }
  return { servers, user, pass, token };
}
