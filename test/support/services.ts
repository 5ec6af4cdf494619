import { spawnSync } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { delimiter, join } from "node:path";

interface ServiceInfo {
  /** The Debian package that provides it. */
  package: string;
  /** Absolute paths tried first, before every `command` on PATH. */
  paths: readonly string[];
  /** The command's name, looked for in each PATH entry in turn. */
  command: string;
  /** Versions (matched against the first line of `--version`) the suites accept by default, preferred first. */
  versions: readonly RegExp[];
  /** What `versions` stands for, in a skip's reason. */
  wanted: string;
}

/** Debian packages the end-to-end suites drive for real; `.ci/run` installs them. */
export const services = {
  "nats-server": {
    package: "nats-server",
    paths: ["/usr/sbin/nats-server", "/usr/bin/nats-server"],
    command: "nats-server",
    versions: [/./],
    wanted: "nats-server",
  },
  // Debian's aws CLI v2 first; a python shim earlier on PATH may be an unrelated v1.
  aws: {
    package: "awscli",
    paths: ["/usr/bin/aws"],
    command: "aws",
    versions: [/^aws-cli\/2\./],
    wanted: "the aws CLI v2 (aws --version → aws-cli/2…)",
  },
} as const satisfies Record<string, ServiceInfo>;

export type Service = keyof typeof services;

/** A binary that ran: its path and the first line of its `--version`. */
export interface FoundService {
  path: string;
  version: string;
}

/** Where to look: the service's known paths and PATH, unless a test gives others. */
export interface SearchPlaces {
  paths?: readonly string[];
  PATH?: string;
}

/** Every distinct place `name` may be: its known paths, then each PATH entry in order. */
function candidates(name: Service, places: SearchPlaces): string[] {
  const { command } = services[name];
  const paths = places.paths ?? services[name].paths;
  const onPath = (places.PATH ?? process.env.PATH ?? "")
    .split(delimiter)
    .filter(Boolean)
    .map((dir) => join(dir, command));
  // /bin is often /usr/bin: one binary, listed once, under the first name it was found by.
  const seen = new Map<string, string>();
  for (const path of [...paths, ...onPath]) {
    if (!existsSync(path)) continue;
    const real = realpathSync(path);
    if (!seen.has(real)) seen.set(real, path);
  }
  return [...seen.values()];
}

/** The first line `--version` prints (v1 of the aws CLI writes it to stderr), or undefined when it does not run. */
function versionOf(path: string): string | undefined {
  const probe = spawnSync(path, ["--version"], { encoding: "utf8", timeout: 15_000 });
  if (probe.status !== 0) return undefined;
  return `${probe.stdout}${probe.stderr}`.trim().split("\n")[0] ?? "";
}

/**
 * The binary of `name` whose version matches the earliest of `versions` (a later one
 * only when none matches an earlier one), and every other one that runs but was passed over.
 */
export function findService(
  name: Service,
  versions: readonly RegExp[] = services[name].versions,
  places: SearchPlaces = {},
): { found: FoundService | undefined; passedOver: FoundService[] } {
  const running = candidates(name, places).flatMap((path) => {
    const version = versionOf(path);
    return version === undefined ? [] : [{ path, version }];
  });
  for (const wanted of versions) {
    const found = running.find(({ version }) => wanted.test(version));
    if (found) return { found, passedOver: running.filter((other) => other !== found) };
  }
  return { found: undefined, passedOver: running };
}

/**
 * The binary a suite needs, in a version it accepts (`versions`, preferred first; by
 * default the service's own). The one used is printed, so a run never uses an unexpected
 * one silently. Outside CI a missing one skips the suite with a printed reason; under
 * CI=true it fails, so CI can never pass by not running a test.
 */
export function requireService(
  name: Service,
  options: { versions?: readonly RegExp[]; wanted?: string } = {},
): { path: string | undefined; version: string | undefined; skip: boolean } {
  const { found, passedOver } = findService(name, options.versions);
  if (found) {
    if (passedOver.length > 0) {
      console.info(
        `${name}: using ${found.path} (${found.version}); passed over ${passedOver.map((o) => `${o.path} (${o.version})`).join(", ")}`,
      );
    }
    return { path: found.path, version: found.version, skip: false };
  }
  const wanted = options.wanted ?? services[name].wanted;
  const others = passedOver.length
    ? `; found only ${passedOver.map((o) => `${o.path} (${o.version})`).join(", ")}, which this suite does not run`
    : "";
  const reason = `${wanted} is not installed (Debian package "${services[name].package}"; .ci/run installs it)${others}`;
  if (process.env.CI === "true") throw new Error(`CI=true and ${reason}`);
  console.warn(`skipping: ${reason}`);
  return { path: undefined, version: undefined, skip: true };
}
