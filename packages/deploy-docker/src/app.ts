import { join } from "node:path";
import { type Graph, NimbusError, natsPermissions, resourcesOf, serializeGraph } from "@nimbus/core";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { DockerBucket } from "./bucket.ts";
import { DockerBus } from "./bus.ts";
import { type DockerStackConfig, defaultGatewayAddress, defaultStorePort, readStackConfig } from "./config.ts";
import { DockerControl } from "./control.ts";
import { deriveAccessKey } from "./credentials.ts";
import { DockerFunction, type FunctionContext, hostPort } from "./function.ts";
import { DockerGateway } from "./gateway.ts";
import { graphImageContext, hostImageContext, imageTag, localImage, readTree } from "./images.ts";
import { type DockerNames, dockerNames, reservedNames, unsupported } from "./naming.ts";
import { DockerNats, natsPassword } from "./nats.ts";
import { DockerProvision } from "./provision.ts";
import { DockerQueue } from "./queue.ts";
import { DockerSchedule } from "./schedule.ts";
import { DockerStore } from "./store.ts";

/** The resource kinds this target deploys; a graph holding another fails at synth time. */
export const supportedKinds = ["bucket", "bus", "function", "queue", "rule", "schedule"] as const;

/**
 * Fails on anything in the graph this target cannot honour, naming it: a resource kind
 * it has no implementation of, or a function whose name a system container takes.
 */
export function checkSupported(graph: Graph): void {
  for (const resource of graph.resources as { kind: string; name: string }[]) {
    if (!(supportedKinds as readonly string[]).includes(resource.kind)) {
      throw unsupported(
        `${resource.kind} "${resource.name}": it has no implementation of the resource kind "${resource.kind}"`,
        `Deploy this app with a target that supports it, or remove the ${resource.kind}.`,
      );
    }
    if (resource.kind === "function" && (reservedNames as readonly string[]).includes(resource.name)) {
      throw unsupported(
        `function "${resource.name}": its containers would take the network name of the app's ${resource.name} service`,
        `Rename the function; ${reservedNames.map((name) => `"${name}"`).join(", ")} are taken.`,
      );
    }
  }
}

export interface DockerAppArgs {
  /** The app's serialized graph (`nimbus synth`'s output, validated). */
  graph: Graph;
  /** Each function's bundle (an ESM file), by function name, built by the CLI. */
  bundles: Readonly<Record<string, string>>;
  /** The runtime host's built files (its `main.js` and what it imports), copied into the base image. */
  hostDir: string;
  /** Where the images' build contexts are written. */
  buildDir: string;
  /**
   * The stack's settings.
   * @default read from the stack's `nimbus:*` config (readStackConfig)
   */
  config?: DockerStackConfig;
  /**
   * The functions' secrets by name.
   * @default each read as a secret from the stack's config under the project's namespace: `pulumi config set --secret STRIPE_KEY …`
   */
  secrets?: Readonly<Record<string, pulumi.Input<string>>>;
  /**
   * The stage: the prefix of every physical name with the app's name.
   * @default the Pulumi stack's name
   */
  stage?: string;
}

/**
 * An app on one Docker host: a network, NATS, the store (or an external S3 endpoint),
 * the control role, the gateway, and per function an image and its containers.
 */
export class DockerApp extends pulumi.ComponentResource {
  readonly names: DockerNames;
  /** The gateway's URL on the Docker host. */
  readonly gatewayUrl: string;
  /** The S3 endpoint of the buckets as seen from the Docker host; empty when the app has no bucket. */
  readonly s3Endpoint: string;
  /** Each bucket's physical name, by the app's name for it. */
  readonly bucketNames: Record<string, string>;
  readonly functions: Record<string, DockerFunction>;

  constructor(name: string, args: DockerAppArgs, opts?: pulumi.ComponentResourceOptions) {
    super("nimbus:docker:App", name, {}, opts);
    const { graph } = args;
    checkSupported(graph);
    const names = dockerNames(graph.app, args.stage ?? pulumi.getStack());
    this.names = names;
    const config = args.config ?? readStackConfig();
    const functions = resourcesOf(graph, "function");
    const missingBundles = functions.filter((fn) => args.bundles[fn.name] === undefined).map((fn) => fn.name);
    if (missingBundles.length > 0) {
      throw new NimbusError(
        "NIMBUS_DOCKER_BUNDLE",
        `No bundle for function ${missingBundles.map((fn) => `"${fn}"`).join(", ")} of app "${graph.app}"; pass each function's bundle in bundles (nimbus deploy builds them).`,
      );
    }
    const secretValues = readSecrets(graph, args.secrets);
    const parent = { parent: this };
    const seed = pulumi.output(config.credentialSeed);

    const network = new docker.Network(names.network, { name: names.network }, parent);

    const node = new docker.RemoteImage(
      `${names.hostImage}-node`,
      { name: config.images.base, keepLocally: true },
      parent,
    );
    const hostContext = hostImageContext(config.images.base, readTree(args.hostDir));
    const base = localImage(names.hostImage, names.hostImage, join(args.buildDir, "host"), hostContext, {
      parent: this,
      dependsOn: [node],
    });
    const baseTag = `${names.hostImage}:${hostContext.hash.slice(0, 16)}`;
    const graphContext = graphImageContext(baseTag, serializeGraph(graph));
    const graphImage = localImage(names.graphImage, names.graphImage, join(args.buildDir, "graph"), graphContext, {
      parent: this,
      dependsOn: [base],
    });
    const graphTag = imageTag(names.graphImage, graphContext);

    const nats = new DockerNats(
      names.nats,
      {
        graph,
        names,
        image: config.images.nats,
        credentialSeed: config.credentialSeed,
        network,
        bucketNotifications: config.s3 ? "bindings" : "store",
      },
      parent,
    );

    const natsLogin = (user: string) =>
      pulumi.secret(seed.apply((value) => `NIMBUS_NATS_PASSWORD=${natsPassword(value, user)}`));
    const users = natsPermissions(graph, { prefix: names.prefix });

    // The streams exist before any host starts: every container below depends on this run.
    const provision = new DockerProvision(
      names.provision,
      {
        graph,
        names,
        image: graphTag,
        graphImage,
        natsUrl: nats.url,
        adminPassword: natsLogin(users.admin.user),
        network,
        nats: nats.container,
      },
      parent,
    );
    const ready = [nats.container, provision.container];

    let s3: FunctionContext["s3"];
    let store: DockerStore | undefined;
    const storePublished = config.storePort ?? defaultStorePort;
    if (config.s3) {
      // The same address inside the app's network and out.
      // No Nimbus store, so no outbox: the functions' bindings publish the bucket notifications.
      s3 = {
        endpoint: config.s3.endpoint,
        region: config.s3.region,
        presignEndpoint: config.s3.endpoint,
        notify: "bindings",
      };
      this.s3Endpoint = config.s3.endpoint;
    } else if (resourcesOf(graph, "bucket").length > 0) {
      store = new DockerStore(
        names.store,
        {
          graph,
          names,
          image: graphTag,
          graphImage,
          credentialSeed: config.credentialSeed,
          network,
          natsUrl: nats.url,
          ...(users.store ? { natsPassword: natsLogin(users.store.user) } : {}),
          publishPort: storePublished,
          dependsOn: ready,
        },
        parent,
      );
      this.s3Endpoint = `http://127.0.0.1:${storePublished}`;
      // Presigned URLs are used outside the app's network, where the store's name does not resolve: its published port.
      s3 = { endpoint: store.endpoint, region: "us-east-1", presignEndpoint: this.s3Endpoint };
    } else {
      // No bucket, no store: nothing would use it.
      this.s3Endpoint = "";
    }
    const running = [...ready, ...(store ? [store.container] : [])];
    // An external endpoint has one key for everyone; the store has one per principal.
    const s3Key = (principal: string): pulumi.Input<string>[] =>
      config.s3
        ? [
            pulumi.interpolate`NIMBUS_S3_ACCESS_KEY_ID=${config.s3.accessKeyId}`,
            pulumi.interpolate`NIMBUS_S3_SECRET_ACCESS_KEY=${config.s3.secretAccessKey}`,
          ]
        : [
            pulumi.secret(
              seed.apply((value) => `NIMBUS_S3_ACCESS_KEY_ID=${deriveAccessKey(value, principal).accessKeyId}`),
            ),
            pulumi.secret(
              seed.apply((value) => `NIMBUS_S3_SECRET_ACCESS_KEY=${deriveAccessKey(value, principal).secretAccessKey}`),
            ),
          ];
    this.bucketNames = {};
    for (const resource of graph.resources) {
      const child = names.functionAlias(resource.name);
      if (resource.kind === "bucket") {
        const bucket = new DockerBucket(`${child}-bucket`, { bucket: resource.name, names }, parent);
        this.bucketNames[resource.name] = bucket.bucketName;
      } else if (resource.kind === "queue") {
        new DockerQueue(`${child}-queue`, { queue: resource.name, names }, parent);
      } else if (resource.kind === "bus") {
        new DockerBus(`${child}-bus`, { bus: resource.name, names }, parent);
      } else if (resource.kind === "schedule") {
        new DockerSchedule(`${child}-schedule`, { schedule: resource }, parent);
      }
    }

    const ctx: FunctionContext = { graph, names, natsUrl: nats.url, ...(s3 ? { s3 } : {}) };
    this.functions = {};
    const upstreams: Record<string, string[]> = {};
    for (const fn of functions) {
      const linksBucket = fn.spec.links.some((link) => link.kind === "bucket");
      const secretEnvs: pulumi.Input<string>[] = [
        natsLogin(users.functions[fn.name]!.user),
        ...(linksBucket ? s3Key(`function:${fn.name}`) : []),
        ...fn.spec.secrets.map((secret) => pulumi.secret(pulumi.interpolate`${secret}=${secretValues[secret]!}`)),
      ];
      this.functions[fn.name] = new DockerFunction(
        names.functionAlias(fn.name),
        {
          fn,
          ctx,
          bundle: args.bundles[fn.name]!,
          base: { ref: baseTag, image: base },
          contextDir: join(args.buildDir, "functions", fn.name),
          secretEnvs,
          network,
        },
        { parent: this, dependsOn: running },
      );
      upstreams[fn.name] = this.functions[fn.name]!.containerNames.map((container) => `${container}:${hostPort}`);
    }

    new DockerControl(
      names.control,
      {
        graph,
        names,
        image: graphTag,
        graphImage,
        natsUrl: nats.url,
        ...(s3 ? { s3 } : {}),
        secretEnvs: [natsLogin(users.control.user), ...(s3 ? s3Key("control") : [])],
        network,
        dependsOn: running,
      },
      parent,
    );

    const gateway = new DockerGateway(
      names.gateway,
      {
        graph,
        names,
        image: config.images.gateway,
        upstreams,
        port: config.gatewayPort,
        address: config.gatewayAddress ?? defaultGatewayAddress,
        network,
        dependsOn: Object.values(this.functions),
      },
      parent,
    );
    this.gatewayUrl = gateway.url;
    this.registerOutputs({ gatewayUrl: this.gatewayUrl, s3Endpoint: this.s3Endpoint, bucketNames: this.bucketNames });
  }
}

/**
 * Every secret the functions declare, from `given` or the stack's config. One missing
 * fails the synth, naming the secret, the functions that declare it and the command that
 * sets it.
 */
function readSecrets(
  graph: Graph,
  given: Readonly<Record<string, pulumi.Input<string>>> | undefined,
): Record<string, pulumi.Input<string>> {
  const declaredBy = new Map<string, string[]>();
  for (const fn of resourcesOf(graph, "function")) {
    for (const secret of fn.spec.secrets) declaredBy.set(secret, [...(declaredBy.get(secret) ?? []), fn.name]);
  }
  if (declaredBy.size === 0) return {};
  const config = given ? undefined : new pulumi.Config();
  const values: Record<string, pulumi.Input<string>> = {};
  const missing: string[] = [];
  for (const [secret, fns] of declaredBy) {
    const value = given ? given[secret] : config!.getSecret(secret);
    if (value === undefined) missing.push(`${secret} (function ${fns.map((fn) => `"${fn}"`).join(", ")})`);
    else values[secret] = value;
  }
  if (missing.length > 0) {
    const first = [...declaredBy.keys()].find((secret) => values[secret] === undefined)!;
    throw new NimbusError(
      "NIMBUS_DOCKER_SECRET",
      `Secret ${missing.join(", ")} of app "${graph.app}" is not set for this stack. Set each with: pulumi config set --secret ${first} <value>`,
    );
  }
  return values;
}
