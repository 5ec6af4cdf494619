import type { Graph, ResourceOf } from "@nimbus/core";
import { beforeAll, describe, expect, test } from "vitest";
import { type FunctionContext, functionContainers, functionSlice } from "./function.ts";
import { dockerNames } from "./naming.ts";
import { shopGraph } from "./shop.test-helper.ts";

let shop: Graph;
let ctx: FunctionContext;
beforeAll(async () => {
  shop = await shopGraph();
  ctx = {
    graph: shop,
    names: dockerNames("shop", "prod"),
    natsUrl: "nats://prod-shop-nats:4222",
    s3: { endpoint: "http://prod-shop-store:9000", region: "us-east-1" },
  };
}, 20_000);

function fn(graph: Graph, name: string): ResourceOf<"function"> {
  const found = graph.resources.find((r) => r.kind === "function" && r.name === name);
  if (found?.kind !== "function") throw new Error(`no function ${name}`);
  return found;
}

const envOf = (envs: string[], name: string) => envs.find((env) => env.startsWith(`${name}=`))?.slice(name.length + 1);

describe("functionContainers", () => {
  test("functionContainers: one non-root, read-only container with limits, restart and health check per function", () => {
    const [api, ...more] = functionContainers(fn(shop, "api"), ctx);
    expect(more).toEqual([]);
    expect(api).toMatchObject({
      name: "prod-shop-api-1",
      command: ["node", "/nimbus/host/main.js"],
      user: "node",
      readOnly: true,
      restart: "unless-stopped",
      memory: 256,
      cpus: "1",
      tmpfs: { "/tmp": "rw,noexec,nosuid,size=64m" },
      networksAdvanced: [{ name: "prod-shop-net", aliases: ["prod-shop-api"] }],
    });
    expect(api!.runtime).toBeUndefined();
    expect(api!.healthcheck.tests.join(" ")).toContain("http://127.0.0.1:8080/_nimbus/health/ready");
  });

  test("functionContainers: the host's variables, the graph slice and no secret in the plain ones", () => {
    const [api] = functionContainers(fn(shop, "api"), ctx);
    const envs = api!.envs;
    expect(envs.map((env) => env.split("=")[0]).sort()).toEqual(
      [
        "NIMBUS_ROLE",
        "NIMBUS_FUNCTION",
        "NIMBUS_GRAPH",
        "NIMBUS_HANDLER",
        "NIMBUS_PORT",
        "NIMBUS_PREFIX",
        "NIMBUS_NATS_URL",
        "NIMBUS_NATS_USER",
        "NODE_OPTIONS",
        "NIMBUS_S3_ENDPOINT",
        "NIMBUS_S3_REGION",
      ].sort(),
    );
    expect(envOf(envs, "NIMBUS_ROLE")).toBe("function");
    expect(envOf(envs, "NIMBUS_HANDLER")).toBe("/nimbus/app/api.mjs");
    expect(envOf(envs, "NIMBUS_PREFIX")).toBe("prod-shop");
    expect(envOf(envs, "NIMBUS_NATS_USER")).toBe("function-api");
    expect(envOf(envs, "NODE_OPTIONS")).toBe("--max-old-space-size=192");
    const slice = JSON.parse(envOf(envs, "NIMBUS_GRAPH")!) as Graph;
    expect(slice.resources.map((r) => `${r.kind}:${r.name}`).sort()).toEqual([
      "bucket:receipts",
      "bus:orders",
      "function:api",
    ]);
  });

  test("functionContainers: scale gives one container per replica behind one alias; gvisor runs them under runsc", () => {
    const graph = structuredClone(shop);
    const report = fn(graph, "report");
    report.spec.scale = 3;
    report.spec.isolation = "gvisor";
    report.spec.cpu = 0.5;
    report.spec.memory = 512 * 1024 * 1024;
    const containers = functionContainers(report, { ...ctx, graph });
    expect(containers.map((c) => c.name)).toEqual(["prod-shop-report-1", "prod-shop-report-2", "prod-shop-report-3"]);
    for (const container of containers) {
      expect(container).toMatchObject({ runtime: "runsc", cpus: "0.5", memory: 512 });
      expect(container.networksAdvanced).toEqual([{ name: "prod-shop-net", aliases: ["prod-shop-report"] }]);
    }
  });

  test("functionContainers: a function that links no bucket gets no S3 variables", () => {
    const graph = structuredClone(shop);
    const report = fn(graph, "report");
    report.spec.links = [];
    const [container] = functionContainers(report, { ...ctx, graph });
    expect(container!.envs.some((env) => env.startsWith("NIMBUS_S3_"))).toBe(false);
  });
});

describe("functionContainers: presigned URLs", () => {
  test("functionContainers: NIMBUS_S3_PRESIGN_ENDPOINT is the store's address from outside, when one is given", () => {
    const [api] = functionContainers(fn(shop, "api"), {
      ...ctx,
      s3: { ...ctx.s3!, presignEndpoint: "http://127.0.0.1:9100" },
    });
    expect(envOf(api!.envs, "NIMBUS_S3_ENDPOINT")).toBe("http://prod-shop-store:9000");
    expect(envOf(api!.envs, "NIMBUS_S3_PRESIGN_ENDPOINT")).toBe("http://127.0.0.1:9100");
  });
});

describe("functionContainers: bucket notifications", () => {
  test("functionContainers: an external S3 endpoint sets NIMBUS_S3_NOTIFY=bindings; the store's leaves it unset", () => {
    const [external] = functionContainers(fn(shop, "api"), { ...ctx, s3: { ...ctx.s3!, notify: "bindings" } });
    expect(envOf(external!.envs, "NIMBUS_S3_NOTIFY")).toBe("bindings");
    const [store] = functionContainers(fn(shop, "api"), ctx);
    expect(store!.envs.some((env) => env.startsWith("NIMBUS_S3_NOTIFY="))).toBe(false);
  });
});

describe("functionSlice", () => {
  test("functionSlice: holds the function, what it links, the buses its buckets notify and what delivers to it, with their edges", () => {
    const fulfil = functionSlice(shop, "fulfil");
    // receipts notifies orders: with an external S3 endpoint, fulfil's host publishes those events.
    expect(fulfil.resources.map((r) => `${r.kind}:${r.name}`).sort()).toEqual([
      "bucket:receipts",
      "bus:orders",
      "function:fulfil",
      "queue:fulfilment",
    ]);
    const mailer = functionSlice(shop, "mailer");
    expect(mailer.resources.map((r) => `${r.kind}:${r.name}`).sort()).toEqual([
      "bucket:receipts",
      "bus:orders",
      "function:mailer",
      "rule:orders/receipt-written",
    ]);
    for (const edge of mailer.edges) {
      expect(mailer.resources.some((r) => `${r.kind}:${r.name}` === edge.from)).toBe(true);
      expect(mailer.resources.some((r) => `${r.kind}:${r.name}` === edge.to)).toBe(true);
    }
    const report = functionSlice(shop, "report");
    expect(report.resources.map((r) => `${r.kind}:${r.name}`)).toContain("schedule:nightly-report");
  });
});
