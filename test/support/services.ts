import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** Debian packages the end-to-end suites drive for real; `.ci/run` installs them. */
export const services = {
  "nats-server": {
    package: "nats-server",
    candidates: ["/usr/sbin/nats-server", "/usr/bin/nats-server", "nats-server"],
  },
  // Debian's aws CLI v2 first: a python shim earlier on PATH may be an unrelated v1.
  aws: { package: "awscli", candidates: ["/usr/bin/aws", "aws"] },
} as const;

export type Service = keyof typeof services;

/** The path of a working `name` binary, or undefined. */
export function findService(name: Service): string | undefined {
  for (const candidate of services[name].candidates) {
    if (candidate.startsWith("/") && !existsSync(candidate)) continue;
    const probe = spawnSync(candidate, ["--version"], { encoding: "utf8", timeout: 15_000 });
    if (probe.status === 0) return candidate;
  }
  return undefined;
}

/**
 * The binary a suite needs. Outside CI a missing one skips the suite with a printed
 * reason; under CI=true it fails, so CI can never pass by not running a test.
 */
export function requireService(name: Service): { path: string | undefined; skip: boolean } {
  const path = findService(name);
  if (path) return { path, skip: false };
  const reason = `${name} is not installed (Debian package "${services[name].package}"; .ci/run installs it)`;
  if (process.env.CI === "true") throw new Error(`CI=true and ${reason}`);
  console.warn(`skipping: ${reason}`);
  return { path: undefined, skip: true };
}
