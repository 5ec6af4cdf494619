import { NimbusError, physicalName } from "@nimbus/core";

/**
 * The names the system containers take, after the stack's prefix. A function may not
 * take one of them: its replicas' network alias would answer for the service.
 */
export const reservedNames = ["nats", "store", "control", "gateway", "host", "provision"] as const;

/** Every physical name of one app on one stack, from core's `physicalName` with `<stack>-<app>` before it. */
export interface DockerNames {
  /** `<stack>-<app>`, put before every name; the host reads it as `NIMBUS_PREFIX`. */
  prefix: string;
  network: string;
  nats: string;
  natsVolume: string;
  store: string;
  storeVolume: string;
  control: string;
  /** The one-shot container that creates the app's streams. */
  provision: string;
  gateway: string;
  /** The repository of the shared base image (Node and the host). */
  hostImage: string;
  /** The repository of the graph image (the base and the app's graph). */
  graphImage: string;
  /** The network alias of all of a function's replicas: the host name other functions call it by. */
  functionAlias(fn: string): string;
  /** The container of replica `replica` (from 1) of function `fn`. */
  functionContainer(fn: string, replica: number): string;
  /** The repository of function `fn`'s image. */
  functionImage(fn: string): string;
  bucket(bucket: string): string;
}

/**
 * The names of app `app` on stack `stack`. Deterministic and capped at each alphabet's
 * length, so two stacks on one Docker host never share a container, network, volume or
 * bucket.
 */
export function dockerNames(app: string, stack: string): DockerNames {
  const prefix = physicalName(`${stack}-${app}`, "docker");
  const docker = (name: string) => physicalName(name, "docker", { prefix });
  return {
    prefix,
    network: docker("net"),
    nats: docker("nats"),
    natsVolume: docker("nats-data"),
    store: docker("store"),
    storeVolume: docker("store-data"),
    control: docker("control"),
    provision: docker("provision"),
    gateway: docker("gateway"),
    hostImage: docker("host"),
    graphImage: docker("graph"),
    functionAlias: (fn) => docker(fn),
    functionContainer: (fn, replica) => docker(`${fn}-${replica}`),
    functionImage: (fn) => docker(`fn-${fn}`),
    bucket: (bucket) => physicalName(bucket, "s3", { prefix }),
  };
}

/** The error of a feature this target cannot honour, naming it and what to do instead. */
export function unsupported(feature: string, fix: string): NimbusError {
  return new NimbusError("NIMBUS_DOCKER_UNSUPPORTED", `The docker target cannot deploy ${feature}. ${fix}`);
}
