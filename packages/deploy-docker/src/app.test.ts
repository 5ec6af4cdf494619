import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type Graph, NimbusError } from "@nimbus/core";
import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, test } from "vitest";
import { checkSupported, DockerApp, type DockerAppArgs } from "./app.ts";
import type { DockerStackConfig } from "./config.ts";
import { defaultImages } from "./config.ts";
import { fakeBuild, mockPulumi, outputValue, type Registered, settled } from "./mocks.test-helper.ts";
import { shopGraph } from "./shop.test-helper.ts";

const timeout = 20_000;
const config: DockerStackConfig = {
  images: defaultImages,
  gatewayPort: 8080,
  credentialSeed: pulumi.secret("test-seed"),
};

let shop: Graph;
beforeAll(async () => {
  shop = await shopGraph();
}, timeout);

/** Synthesizes `graph` under plain mocks and gives what was registered, once every registration is answered. */
async function synth(graph: Graph, overrides: Partial<DockerAppArgs> = {}, stack = "dev") {
  const registered = await mockPulumi(stack);
  const functions = graph.resources.filter((r) => r.kind === "function").map((r) => r.name);
  const build = fakeBuild(functions);
  const app = new DockerApp(graph.app, { graph, config, ...build, ...overrides });
  const outputs = {
    gatewayUrl: app.gatewayUrl,
    s3Endpoint: app.s3Endpoint,
    bucketNames: app.bucketNames,
    images: await Promise.all(Object.values(app.functions).map((fn) => outputValue(fn.image.imageName))),
  };
  await settled();
  return { app, registered, outputs, build };
}

const pairs = (registered: Registered[]) => registered.map((r) => `${r.type} ${r.name}`).sort();

describe("DockerApp under plain mocks", () => {
  test(
    "synth: the shop registers exactly its network, NATS, store, control, gateway, images and one container per function",
    async () => {
      const { registered } = await synth(shop);
      expect(pairs(registered)).toEqual(
        [
          "nimbus:docker:App shop",
          "docker:index/network:Network dev-shop-net",
          "docker:index/remoteImage:RemoteImage dev-shop-host-node",
          "docker:index/image:Image dev-shop-host",
          "docker:index/image:Image dev-shop-graph",
          "nimbus:docker:Nats dev-shop-nats",
          "docker:index/remoteImage:RemoteImage dev-shop-nats-image",
          "docker:index/volume:Volume dev-shop-nats-data",
          "docker:index/container:Container dev-shop-nats",
          "nimbus:docker:Store dev-shop-store",
          "docker:index/volume:Volume dev-shop-store-data",
          "docker:index/container:Container dev-shop-store",
          "nimbus:docker:Bucket dev-shop-receipts-bucket",
          "nimbus:docker:Bus dev-shop-orders-bus",
          "nimbus:docker:Queue dev-shop-fulfilment-queue",
          "nimbus:docker:Queue dev-shop-fulfilment-dlq-queue",
          "nimbus:docker:Queue dev-shop-orders-dlq-queue",
          "nimbus:docker:Schedule dev-shop-nightly-report-schedule",
          "nimbus:docker:Function dev-shop-api",
          "docker:index/image:Image dev-shop-fn-api",
          "docker:index/container:Container dev-shop-api-1",
          "nimbus:docker:Function dev-shop-fulfil",
          "docker:index/image:Image dev-shop-fn-fulfil",
          "docker:index/container:Container dev-shop-fulfil-1",
          "nimbus:docker:Function dev-shop-mailer",
          "docker:index/image:Image dev-shop-fn-mailer",
          "docker:index/container:Container dev-shop-mailer-1",
          "nimbus:docker:Function dev-shop-report",
          "docker:index/image:Image dev-shop-fn-report",
          "docker:index/container:Container dev-shop-report-1",
          "nimbus:docker:Provision dev-shop-provision",
          "docker:index/container:Container dev-shop-provision",
          "nimbus:docker:Control dev-shop-control",
          "docker:index/container:Container dev-shop-control",
          "nimbus:docker:Gateway dev-shop-gateway",
          "docker:index/remoteImage:RemoteImage dev-shop-gateway-image",
          "docker:index/container:Container dev-shop-gateway",
        ].sort(),
      );
    },
    timeout,
  );

  test(
    "synth: the stack name prefixes every physical name, so two stages share none",
    async () => {
      const dev = await synth(shop, {}, "dev");
      const prod = await synth(shop, {}, "prod");
      const physical = (registered: Registered[]) =>
        registered.filter((r) => r.custom && typeof r.inputs.name === "string").map((r) => r.inputs.name as string);
      const devNames = physical(dev.registered);
      const prodNames = physical(prod.registered);
      expect(devNames.length).toBeGreaterThan(0);
      for (const name of prodNames)
        expect(
          name.startsWith("prod-shop-") ||
            name.startsWith("node:") ||
            name.startsWith("nats:") ||
            name.startsWith("caddy:"),
          name,
        ).toBe(true);
      const containers = (registered: Registered[]) =>
        registered.filter((r) => r.type === "docker:index/container:Container").map((r) => r.inputs.name);
      expect(containers(prod.registered).filter((name) => containers(dev.registered).includes(name))).toEqual([]);
      expect(prod.outputs.bucketNames).toEqual({ receipts: "prod-shop-receipts" });
    },
    timeout,
  );

  test(
    "synth: gives the gateway URL, the S3 endpoint and the bucket names",
    async () => {
      const { outputs } = await synth(shop);
      expect(outputs.gatewayUrl).toBe("http://127.0.0.1:8080");
      expect(outputs.s3Endpoint).toBe("http://127.0.0.1:9000");
      expect(outputs.bucketNames).toEqual({ receipts: "dev-shop-receipts" });
    },
    timeout,
  );

  test(
    "synth: presigned URLs point at the store's published port, which resolves outside the app's network",
    async () => {
      const { registered } = await synth(shop, { config: { ...config, storePort: 9100 } });
      const api = registered.find((r) => r.name === "dev-shop-api-1")!;
      expect(api.inputs.envs).toEqual(
        expect.arrayContaining([
          "NIMBUS_S3_ENDPOINT=http://dev-shop-store:9000",
          "NIMBUS_S3_PRESIGN_ENDPOINT=http://127.0.0.1:9100",
        ]),
      );
    },
    timeout,
  );

  test(
    "synth: with an external S3 endpoint no store runs and functions get its credentials",
    async () => {
      const external: DockerStackConfig = {
        ...config,
        s3: {
          endpoint: "https://s3.example.com",
          region: "eu-central-1",
          accessKeyId: "AKIA",
          secretAccessKey: pulumi.secret("shh"),
        },
      };
      const { registered, outputs } = await synth(shop, { config: external });
      expect(pairs(registered).filter((pair) => pair.includes("store"))).toEqual([]);
      expect(outputs.s3Endpoint).toBe("https://s3.example.com");
      const api = registered.find((r) => r.name === "dev-shop-api-1")!;
      expect(api.inputs.envs).toEqual(
        expect.arrayContaining([
          "NIMBUS_S3_ENDPOINT=https://s3.example.com",
          "NIMBUS_S3_PRESIGN_ENDPOINT=https://s3.example.com",
          "NIMBUS_S3_REGION=eu-central-1",
          "NIMBUS_S3_ACCESS_KEY_ID=AKIA",
          "NIMBUS_S3_SECRET_ACCESS_KEY=shh",
        ]),
      );
    },
    timeout,
  );

  test(
    "synth: the same bundle gives the same image tag; a changed bundle changes only its function's tag",
    async () => {
      const first = await synth(shop);
      const again = await synth(shop, { hostDir: first.build.hostDir, bundles: first.build.bundles });
      expect(again.outputs.images).toEqual(first.outputs.images);
      const changed = fakeBuild(["api", "fulfil", "mailer", "report"], (fn) =>
        fn === "api" ? "export default { changed: true };\n" : `export default { fn: "${fn}" };\n`,
      );
      const after = await synth(shop, {
        bundles: changed.bundles,
        buildDir: changed.buildDir,
        hostDir: first.build.hostDir,
      });
      const differs = after.outputs.images.map((tag, i) => tag !== first.outputs.images[i]);
      expect(differs).toEqual([true, false, false, false]);
      // The thin image's context holds only the bundle and its Dockerfile.
      const context = join(changed.buildDir, "functions", "api");
      expect(readFileSync(join(context, "Dockerfile"), "utf8")).toMatch(
        /^FROM dev-shop-host:[0-9a-f]{16}\nCOPY api\.mjs \/nimbus\/app\/api\.mjs\n$/,
      );
    },
    timeout,
  );

  test(
    "synth: a function's secret comes from the stack config as a Pulumi secret; one not set fails naming it",
    async () => {
      const graph = structuredClone(shop);
      const api = graph.resources.find((r) => r.kind === "function" && r.name === "api")!;
      if (api.kind === "function") api.spec.secrets = ["STRIPE_KEY"];
      const { registered } = await synth(graph, { secrets: { STRIPE_KEY: pulumi.secret("sk_test") } });
      const container = registered.find((r) => r.name === "dev-shop-api-1")!;
      expect(container.inputs.envs).toContain("STRIPE_KEY=sk_test");
      expect(container.secrets).toContain("envs");

      await mockPulumi();
      const build = fakeBuild(["api", "fulfil", "mailer", "report"]);
      expect(() => new DockerApp("shop", { graph, config, ...build, secrets: {} })).toThrow(
        /Secret STRIPE_KEY \(function "api"\) of app "shop" is not set for this stack\. Set each with: pulumi config set --secret STRIPE_KEY <value>/,
      );
      await settled();
    },
    timeout,
  );

  test(
    "synth: an unmocked call throws",
    async () => {
      await mockPulumi();
      await expect(docker.getNetwork({ name: "bridge" })).rejects.toThrow(
        /unmocked call: docker:index\/getNetwork:getNetwork/,
      );
      await settled();
    },
    timeout,
  );
});

describe("checkSupported", () => {
  test("checkSupported: a resource kind the target has no implementation of fails at synth time, naming it", () => {
    const graph = {
      ...structuredClone(shopLike()),
      resources: [{ kind: "table", name: "carts", spec: {} }],
    } as unknown as Graph;
    let error: unknown;
    try {
      checkSupported(graph);
    } catch (caught) {
      error = caught;
    }
    expect(NimbusError.is(error)).toBe(true);
    expect((error as NimbusError).code).toBe("NIMBUS_DOCKER_UNSUPPORTED");
    expect((error as NimbusError).message).toBe(
      'The docker target cannot deploy table "carts": it has no implementation of the resource kind "table". Deploy this app with a target that supports it, or remove the table.',
    );
  });

  test("checkSupported: a function named like a system service fails, naming it and the taken names", () => {
    const graph = structuredClone(shop);
    const fn = graph.resources.find((r) => r.kind === "function")!;
    fn.name = "nats";
    expect(() => checkSupported(graph)).toThrow(
      'The docker target cannot deploy function "nats": its containers would take the network name of the app\'s nats service. Rename the function; "nats", "store", "control", "gateway", "host", "provision" are taken.',
    );
  });

  test("checkSupported: the shop passes", () => {
    expect(() => checkSupported(shop)).not.toThrow();
  });
});

function shopLike(): Graph {
  return { version: 1, app: "shop", resources: [], edges: [] };
}
