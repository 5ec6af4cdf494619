import { readFileSync } from "node:fs";
import { type Edge, type Graph, natsFunctionUser, type Resource, type ResourceOf } from "@nimbus/core";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { bundlePath, functionImageContext, hostEntry, localImage } from "./images.ts";
import type { DockerNames } from "./naming.ts";

/** The port every host listens on inside its container. */
export const hostPort = 8080;
/** The host's health endpoints: alive, and ready to serve (connected, handler loaded). */
export const healthPaths = { live: "/_nimbus/health/live", ready: "/_nimbus/health/ready" } as const;

/** What every function's containers share: the names, and where NATS and the object store are. */
export interface FunctionContext {
  graph: Graph;
  names: DockerNames;
  natsUrl: string;
  /** Absent when no store runs and no external S3 is set: then no function may link a bucket. */
  s3?: {
    endpoint: string;
    region: string;
    /**
     * Where presigned URLs point: the store as their users reach it from outside the
     * app's network (the host's `NIMBUS_S3_PRESIGN_ENDPOINT`). @default `endpoint`
     * @example "http://127.0.0.1:9000"
     */
    presignEndpoint?: string;
    /**
     * Who publishes bucket notifications (the host's `NIMBUS_S3_NOTIFY`): `"bindings"` for
     * an external endpoint, which has no outbox; writes that bypass the bindings then do
     * not notify. @default "store"
     */
    notify?: "store" | "bindings";
  };
}

/** A container's settings that are plain data; the secrets are added by the component. */
export interface ContainerPlan {
  name: string;
  command: string[];
  envs: string[];
  user: string;
  readOnly: boolean;
  restart: string;
  /** MB, as the Docker provider takes it. */
  memory: number;
  cpus: string;
  runtime?: string;
  tmpfs: Record<string, string>;
  healthcheck: { tests: string[]; interval: string; timeout: string; retries: number; startPeriod: string };
  labels: { label: string; value: string }[];
  networksAdvanced: { name: string; aliases: string[] }[];
}

/** A health check run inside the container with Node, since the slim Node image has no curl. */
export function healthcheck(path: string, port = hostPort): ContainerPlan["healthcheck"] {
  const url = `http://127.0.0.1:${port}${path}`;
  return {
    tests: [
      "CMD",
      "node",
      "-e",
      `fetch(${JSON.stringify(url)}).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`,
    ],
    interval: "10s",
    timeout: "3s",
    retries: 3,
    startPeriod: "10s",
  };
}

/**
 * The part of the graph one function's host needs: the function, what it links, and
 * whatever delivers to it (the queue it consumes, the rules and their buses, the
 * schedules), with the edges between them. Small enough for an environment variable
 * however big the app is.
 */
export function functionSlice(graph: Graph, fn: string): Graph {
  const index = sliceIndex(graph);
  const self = `function:${fn}`;
  const keep = new Set([self]);
  for (const edge of index.from.get(self) ?? []) if (edge.kind === "link") keep.add(edge.to);
  for (const edge of index.to.get(self) ?? []) keep.add(edge.from);
  // A rule delivering to the function needs its bus (dead letters, limits); a linked
  // bucket, the buses it notifies (their schemas, when the bindings publish its events).
  for (const id of [...keep]) {
    const resource = index.byId.get(id);
    if (resource?.kind === "rule") keep.add(`bus:${resource.spec.bus}`);
    if (resource?.kind === "bucket") {
      for (const notification of resource.spec.notifications) keep.add(`bus:${notification.bus}`);
    }
  }
  const resources = graph.resources.filter((resource) => keep.has(index.idOf.get(resource)!));
  const edges = [...keep].flatMap((id) => (index.from.get(id) ?? []).filter((edge) => keep.has(edge.to)));
  edges.sort((a, b) => index.edgeOrder.get(a)! - index.edgeOrder.get(b)!);
  return { version: graph.version, app: graph.app, resources, edges };
}

interface SliceIndex {
  idOf: Map<Resource, string>;
  byId: Map<string, Resource>;
  from: Map<string, Edge[]>;
  to: Map<string, Edge[]>;
  edgeOrder: Map<Edge, number>;
}

// One index per graph, so slicing every function of a big app stays linear.
const indexes = new WeakMap<Graph, SliceIndex>();

function sliceIndex(graph: Graph): SliceIndex {
  const cached = indexes.get(graph);
  if (cached) return cached;
  const index: SliceIndex = { idOf: new Map(), byId: new Map(), from: new Map(), to: new Map(), edgeOrder: new Map() };
  for (const resource of graph.resources) {
    const id = `${resource.kind}:${resource.name}`;
    index.idOf.set(resource, id);
    index.byId.set(id, resource);
  }
  for (const [order, edge] of graph.edges.entries()) {
    index.edgeOrder.set(edge, order);
    index.from.set(edge.from, [...(index.from.get(edge.from) ?? []), edge]);
    index.to.set(edge.to, [...(index.to.get(edge.to) ?? []), edge]);
  }
  indexes.set(graph, index);
  return index;
}

/** The containers of one function, one per replica (`scale`), as plain data. */
export function functionContainers(fn: ResourceOf<"function">, ctx: FunctionContext): ContainerPlan[] {
  const { names } = ctx;
  const { spec } = fn;
  const memoryMb = Math.ceil(spec.memory / (1024 * 1024));
  const functionUrls = Object.fromEntries(
    spec.links
      .filter((link) => link.kind === "function")
      .map((link) => [link.resource, `http://${names.functionAlias(link.resource)}:${hostPort}`]),
  );
  const envs = [
    "NIMBUS_ROLE=function",
    `NIMBUS_FUNCTION=${fn.name}`,
    `NIMBUS_GRAPH=${JSON.stringify(functionSlice(ctx.graph, fn.name))}`,
    `NIMBUS_HANDLER=${bundlePath(fn.name)}`,
    `NIMBUS_PORT=${hostPort}`,
    `NIMBUS_PREFIX=${names.prefix}`,
    `NIMBUS_NATS_URL=${ctx.natsUrl}`,
    `NIMBUS_NATS_USER=${natsFunctionUser(fn.name)}`,
    // The heap stays below the container's limit, so Node collects before the kernel kills.
    `NODE_OPTIONS=--max-old-space-size=${Math.max(32, Math.floor(memoryMb * 0.75))}`,
  ];
  if (Object.keys(functionUrls).length > 0) envs.push(`NIMBUS_FUNCTION_URLS=${JSON.stringify(functionUrls)}`);
  if (ctx.s3 && spec.links.some((link) => link.kind === "bucket")) {
    envs.push(`NIMBUS_S3_ENDPOINT=${ctx.s3.endpoint}`, `NIMBUS_S3_REGION=${ctx.s3.region}`);
    if (ctx.s3.presignEndpoint) envs.push(`NIMBUS_S3_PRESIGN_ENDPOINT=${ctx.s3.presignEndpoint}`);
    if (ctx.s3.notify === "bindings") envs.push("NIMBUS_S3_NOTIFY=bindings");
  }
  return Array.from({ length: spec.scale }, (_, index) => {
    const replica = index + 1;
    return {
      name: names.functionContainer(fn.name, replica),
      command: ["node", hostEntry],
      envs,
      user: "node",
      readOnly: true,
      restart: "unless-stopped",
      memory: memoryMb,
      cpus: String(spec.cpu),
      ...(spec.isolation === "gvisor" ? { runtime: "runsc" } : {}),
      // The only writable place: Node and libraries may want a scratch directory.
      tmpfs: { "/tmp": "rw,noexec,nosuid,size=64m" },
      healthcheck: healthcheck(healthPaths.ready),
      labels: [
        { label: "nimbus.app", value: ctx.graph.app },
        { label: "nimbus.prefix", value: names.prefix },
        { label: "nimbus.function", value: fn.name },
        { label: "nimbus.replica", value: String(replica) },
      ],
      networksAdvanced: [{ name: names.network, aliases: [names.functionAlias(fn.name)] }],
    };
  });
}

export interface DockerFunctionArgs {
  fn: ResourceOf<"function">;
  ctx: FunctionContext;
  /** The function's bundle, built by the CLI. */
  bundle: string;
  /** The base image: its content-hashed tag (`FROM` of the function's image) and its build. */
  base: { ref: string; image: pulumi.Resource };
  /** Where the image's build context is written. */
  contextDir: string;
  /** Variables holding secrets: the NATS password, the store key, the function's own secrets. */
  secretEnvs: pulumi.Input<string>[];
  network: docker.Network;
}

/** One function: its thin image (the bundle on the base) and its replicas' containers. */
export class DockerFunction extends pulumi.ComponentResource {
  readonly image: docker.Image;
  readonly containers: docker.Container[];
  /** The containers' names, as the gateway's upstreams use them. */
  readonly containerNames: string[];

  constructor(name: string, args: DockerFunctionArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nimbus:docker:Function", name, {}, opts);
    const { fn, ctx } = args;
    const context = functionImageContext(fn.name, args.base.ref, readFileSync(args.bundle));
    const repository = ctx.names.functionImage(fn.name);
    this.image = localImage(repository, repository, args.contextDir, context, {
      parent: this,
      dependsOn: [args.base.image],
    });
    const plans = functionContainers(fn, ctx);
    this.containerNames = plans.map((plan) => plan.name);
    this.containers = plans.map(
      (plan) =>
        new docker.Container(
          plan.name,
          {
            ...plan,
            image: this.image.imageName,
            envs: [...plan.envs, ...args.secretEnvs],
            networksAdvanced: plan.networksAdvanced.map((network) => ({ ...network, name: args.network.name })),
          },
          { parent: this },
        ),
    );
    this.registerOutputs({ image: this.image.imageName, containerNames: this.containerNames });
  }
}
