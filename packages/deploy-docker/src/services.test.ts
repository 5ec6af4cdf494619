import type { Graph } from "@nimbus/core";
import { beforeAll, describe, expect, test } from "vitest";
import { deriveAccessKey } from "./credentials.ts";
import { functionImageContext, hostImageContext, imageTag } from "./images.ts";
import { dockerNames } from "./naming.ts";
import { natsServerConfig, natsUserList } from "./nats.ts";
import { shopGraph } from "./shop.test-helper.ts";
import { storeEnvs, storeKeys, storePrincipals } from "./store.ts";

let shop: Graph;
beforeAll(async () => {
  shop = await shopGraph();
}, 20_000);
const names = dockerNames("shop", "dev");

describe("NATS", () => {
  test("natsServerConfig: one user per function, the control role and the admin, each with its password; JetStream on the volume", () => {
    const users = natsUserList(shop, names);
    expect(users.map((user) => user.user).sort()).toEqual(
      [
        "function-api",
        "function-fulfil",
        "function-mailer",
        "function-report",
        "nimbus-admin",
        "nimbus-control",
        "nimbus-store",
      ].sort(),
    );
    const passwords = Object.fromEntries(users.map((user) => [user.user, `pw-${user.user}`]));
    const text = natsServerConfig(shop, names, passwords);
    expect(text).toContain('store_dir: "/data"');
    expect(text).toContain('listen: "0.0.0.0:4222"');
    expect(text).toContain("http_port: 8222");
    for (const user of users) expect(text).toContain(`password: "pw-${user.user}"`);
    // fulfil links no bus: it may not put on one.
    const fulfil = users.find((user) => user.user === "function-fulfil")!;
    expect(fulfil.permissions.publish.some((subject) => subject.startsWith("nimbus.b."))).toBe(false);
  });
});

describe("store", () => {
  test("storeKeys: a key per function that links a bucket, opening only its buckets, and the control role's", () => {
    expect(storePrincipals(shop, names)).toEqual([
      { principal: "function:api", buckets: ["dev-shop-receipts"] },
      { principal: "function:fulfil", buckets: ["dev-shop-receipts"] },
      { principal: "function:mailer", buckets: ["dev-shop-receipts"] },
      { principal: "function:report", buckets: ["dev-shop-receipts"] },
      { principal: "control", buckets: ["dev-shop-receipts"] },
    ]);
    const keys = JSON.parse(storeKeys(shop, names, "seed")) as {
      accessKeyId: string;
      secretAccessKey: string;
      buckets: string[];
    }[];
    expect(keys).toHaveLength(5);
    expect(keys[0]).toEqual({ ...deriveAccessKey("seed", "function:api"), buckets: ["dev-shop-receipts"] });
    expect(new Set(keys.map((key) => key.secretAccessKey)).size).toBe(keys.length);
  });

  test("storeEnvs: the store service serves on every address of its container, reads the graph from its image, and publishes notifications as the store's NATS user", () => {
    const envs = storeEnvs(shop, names, "nats://dev-shop-nats:4222");
    expect(envs).toContain("NIMBUS_STORE_LISTEN=0.0.0.0:9000");
    expect(envs).toContain("NIMBUS_GRAPH_FILE=/nimbus/app/graph.json");
    expect(envs).toContain("NIMBUS_PREFIX=dev-shop");
    expect(envs).toContain("NIMBUS_NATS_USER=nimbus-store");
    // No secret in the plain variables: the keys and the NATS password come as secrets.
    expect(envs.some((env) => /KEYS|SECRET|PASSWORD/.test(env))).toBe(false);
  });

  test("deriveAccessKey: the same seed gives the same key on every deploy, another seed another", () => {
    expect(deriveAccessKey("seed", "control")).toEqual(deriveAccessKey("seed", "control"));
    expect(deriveAccessKey("other", "control").secretAccessKey).not.toBe(
      deriveAccessKey("seed", "control").secretAccessKey,
    );
  });
});

describe("images", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);

  test("functionImageContext: only the bundle and a Dockerfile on the base; the same bytes give the same tag", () => {
    const context = functionImageContext("api", "dev-shop-host:0123456789abcdef", bytes("export default {}"));
    expect([...context.files.keys()].sort()).toEqual(["Dockerfile", "api.mjs"]);
    expect(new TextDecoder().decode(context.files.get("Dockerfile"))).toBe(
      "FROM dev-shop-host:0123456789abcdef\nCOPY api.mjs /nimbus/app/api.mjs\n",
    );
    const again = functionImageContext("api", "dev-shop-host:0123456789abcdef", bytes("export default {}"));
    expect(imageTag("dev-shop-fn-api", again)).toBe(imageTag("dev-shop-fn-api", context));
    expect(functionImageContext("api", "dev-shop-host:0123456789abcdef", bytes("export default 1")).hash).not.toBe(
      context.hash,
    );
    expect(functionImageContext("api", "dev-shop-host:fedcba9876543210", bytes("export default {}")).hash).not.toBe(
      context.hash,
    );
  });

  test("hostImageContext: the host's files on the Node image, run as the non-root node user", () => {
    const context = hostImageContext("node:24-bookworm-slim", new Map([["main.js", bytes("run()")]]));
    expect([...context.files.keys()].sort()).toEqual(["Dockerfile", "host/main.js"]);
    const dockerfile = new TextDecoder().decode(context.files.get("Dockerfile"));
    expect(dockerfile.startsWith("FROM node:24-bookworm-slim\n")).toBe(true);
    expect(dockerfile).toContain("COPY host/ /nimbus/host/\n");
    expect(dockerfile.endsWith("USER node\n")).toBe(true);
  });
});
