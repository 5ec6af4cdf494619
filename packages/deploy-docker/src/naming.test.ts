import { describe, expect, test } from "vitest";
import { dockerNames } from "./naming.ts";

describe("dockerNames", () => {
  test("dockerNames: the stack and app prefix every name", () => {
    const names = dockerNames("shop", "prod");
    expect(names.prefix).toBe("prod-shop");
    expect([
      names.network,
      names.nats,
      names.natsVolume,
      names.store,
      names.storeVolume,
      names.control,
      names.gateway,
    ]).toEqual([
      "prod-shop-net",
      "prod-shop-nats",
      "prod-shop-nats-data",
      "prod-shop-store",
      "prod-shop-store-data",
      "prod-shop-control",
      "prod-shop-gateway",
    ]);
    expect(names.functionContainer("api", 2)).toBe("prod-shop-api-2");
    expect(names.functionAlias("api")).toBe("prod-shop-api");
    expect(names.functionImage("api")).toBe("prod-shop-fn-api");
    expect(names.bucket("receipts")).toBe("prod-shop-receipts");
  });

  test("dockerNames: a stage name Docker refuses is made safe and kept apart by a hash", () => {
    const names = dockerNames("shop", "Feature/Login");
    expect(names.prefix).toMatch(/^feature-login-shop-[0-9a-f]{8}$/);
    expect(dockerNames("shop", "feature-login").prefix).not.toBe(names.prefix);
    expect(names.functionContainer("x".repeat(80), 1).length).toBeLessThanOrEqual(63);
  });
});
