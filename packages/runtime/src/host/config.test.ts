import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { App } from "@nimbus/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { readConfig } from "./config.ts";

let dir: string;
let handler: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "nimbus-config-"));
  handler = join(dir, "api.mjs");
  await writeFile(handler, "export default {};\n");
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function graph(): string {
  const app = new App("shop");
  const uploads = app.bucket("uploads");
  const billing = app.function("billing", { handler: "./src/billing.ts" });
  app.function("api", { handler: "./src/api.ts", link: { uploads, billing }, secrets: ["STRIPE_KEY"] });
  return JSON.stringify(app.toGraph());
}

const env = (extra: Record<string, string> = {}) => ({
  NIMBUS_ROLE: "function",
  NIMBUS_GRAPH: graph(),
  NIMBUS_FUNCTION: "api",
  NIMBUS_HANDLER: handler,
  NIMBUS_NATS_URL: "nats://127.0.0.1:4222",
  NIMBUS_S3_ENDPOINT: "http://store:9000",
  NIMBUS_S3_ACCESS_KEY_ID: "key",
  NIMBUS_S3_SECRET_ACCESS_KEY: "secret",
  NIMBUS_FUNCTION_URLS: JSON.stringify({ billing: "http://billing:8080" }),
  ...extra,
});

describe("readConfig", () => {
  test("readConfig: NIMBUS_GRAPH_FILE holds the graph in a file, for one larger than a variable may be", async () => {
    const file = join(dir, "graph.json");
    await writeFile(file, graph());
    const { NIMBUS_GRAPH: _, ...rest } = env();
    const config = readConfig({ ...rest, NIMBUS_GRAPH_FILE: file });
    expect(config).toMatchObject({ role: "function", name: "api", graph: { app: "shop" } });
  });

  test("readConfig: NIMBUS_GRAPH and NIMBUS_GRAPH_FILE both set is refused, naming both", () => {
    expect(() => readConfig(env({ NIMBUS_GRAPH_FILE: join(dir, "graph.json") }))).toThrow(
      /NIMBUS_GRAPH_FILE is set as well as NIMBUS_GRAPH/,
    );
  });

  test("readConfig: a complete environment gives the function's spec, its secrets and the defaults", () => {
    const config = readConfig(env({ STRIPE_KEY: "sk_1" }));
    expect(config).toMatchObject({
      role: "function",
      name: "api",
      handler,
      port: 8080,
      hostname: "0.0.0.0",
      nats: { servers: ["nats://127.0.0.1:4222"] },
      s3: { endpoint: "http://store:9000", presignEndpoint: "http://store:9000", region: "us-east-1" },
      functionUrls: { billing: "http://billing:8080" },
      secrets: { STRIPE_KEY: "sk_1" },
      missingSecrets: [],
    });
  });

  test("readConfig: reports every problem at once, each naming its variable and how to fix it", () => {
    const problems = () =>
      readConfig(
        env({
          NIMBUS_FUNCTION: "apii",
          NIMBUS_PORT: "70000",
          NIMBUS_NATS_URL: "http://nats",
          NIMBUS_HANDLER: join(dir, "missing.mjs"),
        }),
      );
    expect(problems).toThrow(
      expect.objectContaining({
        code: "NIMBUS_HOST_CONFIG",
        message: expect.stringMatching(
          /NIMBUS_NATS_URL is "http:\/\/nats"; expected the NATS server[\s\S]*NIMBUS_PORT is "70000"[\s\S]*NIMBUS_FUNCTION is "apii", which NIMBUS_GRAPH does not hold \(its functions: "api", "billing"\)[\s\S]*NIMBUS_HANDLER is ".*missing.mjs", which does not exist/,
        ),
      }),
    );
  });

  test("readConfig: a linked bucket needs the store's variables, a linked function its URL", () => {
    const without = env({ NIMBUS_FUNCTION_URLS: "{}" });
    delete (without as Record<string, string | undefined>).NIMBUS_S3_ACCESS_KEY_ID;
    expect(() => readConfig(without)).toThrow(
      /NIMBUS_S3_ACCESS_KEY_ID is not set; expected the function's access key for the object store. Function "api" links bucket "uploads" \(as env.uploads\)[\s\S]*NIMBUS_FUNCTION_URLS has no URL for function "billing"/,
    );
  });

  test("readConfig: a graph that is not JSON, or not a graph, says so", () => {
    expect(() => readConfig(env({ NIMBUS_GRAPH: "{nope" }))).toThrow(/NIMBUS_GRAPH is not JSON/);
    expect(() => readConfig(env({ NIMBUS_GRAPH: '{"version":1}' }))).toThrow(
      /NIMBUS_GRAPH is not a graph of this version of Nimbus \(app: .*\)/,
    );
  });

  test("readConfig: NIMBUS_S3_PRESIGN_ENDPOINT is where presigned URLs point, NIMBUS_S3_ENDPOINT by default", () => {
    expect(readConfig(env({ NIMBUS_S3_PRESIGN_ENDPOINT: "http://127.0.0.1:9000" }))).toMatchObject({
      s3: { endpoint: "http://store:9000", presignEndpoint: "http://127.0.0.1:9000" },
    });
  });

  test("readConfig: a NIMBUS_S3_PRESIGN_ENDPOINT that is not an http(s) URL is refused, naming the variable", () => {
    for (const value of ["store:9000", "ftp://store"]) {
      expect(() => readConfig(env({ NIMBUS_S3_PRESIGN_ENDPOINT: value }))).toThrow(
        expect.objectContaining({
          code: "NIMBUS_HOST_CONFIG",
          message: expect.stringContaining(
            `NIMBUS_S3_PRESIGN_ENDPOINT is "${value}", which is not an http or https URL; expected the object store's address as the users of presigned URLs reach it`,
          ),
        }),
      );
    }
  });

  test("readConfig: a declared secret no variable sets is listed, not an error", () => {
    expect(readConfig(env())).toMatchObject({ secrets: {}, missingSecrets: ["STRIPE_KEY"] });
  });
});
