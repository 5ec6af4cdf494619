import { NimbusError } from "@nimbus/core";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, test } from "vitest";
import { type ConfigSource, readStackConfig } from "./config.ts";

function source(values: Record<string, string>): ConfigSource {
  return {
    get: (key) => values[key],
    getSecret: (key) => (values[key] === undefined ? undefined : pulumi.secret(values[key])),
  };
}

function errorOf(run: () => unknown): NimbusError {
  try {
    run();
  } catch (error) {
    if (NimbusError.is(error)) return error;
    throw error;
  }
  throw new Error("expected an error");
}

describe("readStackConfig", () => {
  test("readStackConfig: pinned official images, port 8080 and the store when nothing else is set", () => {
    const config = readStackConfig(source({ credentialSeed: "seed" }));
    expect(config.images).toEqual({
      base: "node:24-bookworm-slim",
      nats: "nats:2.10-alpine",
      gateway: "caddy:2.8-alpine",
    });
    expect(config.gatewayPort).toBe(8080);
    expect(config.s3).toBeUndefined();
  });

  test("readStackConfig: images, port and an external S3 endpoint from the stack", () => {
    const config = readStackConfig(
      source({
        credentialSeed: "seed",
        baseImage: "registry.local/node:24",
        natsImage: "registry.local/nats:2.10",
        gatewayImage: "registry.local/caddy:2.8",
        gatewayPort: "80",
        s3Endpoint: "https://s3.example.com",
        s3AccessKeyId: "AKIA",
        s3SecretAccessKey: "shh",
      }),
    );
    expect(config.images.base).toBe("registry.local/node:24");
    expect(config.gatewayPort).toBe(80);
    expect(config.s3).toMatchObject({ endpoint: "https://s3.example.com", region: "us-east-1", accessKeyId: "AKIA" });
  });

  test("readStackConfig: a missing seed, a bad port or half an S3 setting fails naming the key and the fix", () => {
    expect(errorOf(() => readStackConfig(source({}))).message).toMatch(
      /nimbus:credentialSeed is not set.*pulumi config set --secret nimbus:credentialSeed/,
    );
    const port = errorOf(() => readStackConfig(source({ credentialSeed: "s", gatewayPort: "http" })));
    expect(port.code).toBe("NIMBUS_DOCKER_CONFIG");
    expect(port.message).toMatch(/nimbus:gatewayPort is "http"; expected a port from 1 to 65535/);
    expect(errorOf(() => readStackConfig(source({ credentialSeed: "s", s3Endpoint: "https://s3" }))).message).toMatch(
      /nimbus:s3AccessKeyId or nimbus:s3SecretAccessKey is not/,
    );
  });
});
