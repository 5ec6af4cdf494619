import { describe, expect, test } from "vitest";
import { fnv1a } from "./hash.ts";
import { deliveryRoute, type PhysicalTarget, physicalName } from "./physical-name.ts";

const dnsLabel = /^[a-z](?:[a-z0-9-]*[a-z0-9])?$/;
const accepts: Record<PhysicalTarget, (name: string) => boolean> = {
  jetstream: (name) => /^[A-Za-z0-9_-]{1,32}$/.test(name),
  dns: (name) => name.length <= 63 && dnsLabel.test(name),
  docker: (name) => name.length <= 63 && dnsLabel.test(name),
  s3: (name) =>
    name.length >= 3 &&
    name.length <= 63 &&
    dnsLabel.test(name) &&
    !/^(xn--|sthree-|amzn-s3-demo-)/.test(name) &&
    !/(-s3alias|--ol-s3|--x-s3|--table-s3)$/.test(name),
};
const targets = Object.keys(accepts) as PhysicalTarget[];

const awkward = [
  "orders",
  "orders/paid",
  "orders.paid",
  "orders.*",
  "orders.>",
  "Orders Paid",
  "_private",
  "9lives",
  "a",
  "ab",
  "xn--bucket",
  "sthree-data",
  "media-s3alias",
  "ümlaut-ß",
  "x".repeat(200),
  `${"y".repeat(70)}/z`,
  "---",
  "",
];

describe("fnv1a", () => {
  test("fnv1a: gives the published FNV-1a 32-bit values", () => {
    expect(fnv1a("")).toBe("811c9dc5");
    expect(fnv1a("a")).toBe("e40c292c");
    expect(fnv1a("foobar")).toBe("bf9cf968");
  });
});

describe("physicalName", () => {
  test("physicalName: keeps a name every target accepts as it is, with its prefix", () => {
    for (const target of targets) {
      expect(physicalName("orders", target)).toBe("orders");
      expect(physicalName("orders", target, { prefix: "prod-shop" })).toBe("prod-shop-orders");
    }
  });

  test("physicalName: gives a name each target accepts, whatever the input", () => {
    for (const target of targets) {
      for (const name of awkward) {
        for (const prefix of [undefined, "prod-shop", "Dev Stage"]) {
          const physical = physicalName(name, target, prefix === undefined ? {} : { prefix });
          expect(accepts[target](physical), `${target}: ${JSON.stringify(name)} → ${physical}`).toBe(true);
        }
      }
    }
  });

  test("physicalName: is deterministic, and an altered name ends in a hash of the original", () => {
    expect(physicalName("Orders_2024", "dns")).toBe(`orders-2024-${fnv1a("Orders_2024")}`);
    expect(physicalName("Orders_2024", "dns")).toBe(physicalName("Orders_2024", "dns"));
    expect(physicalName("orders/paid", "jetstream")).toBe(`orders-paid-${fnv1a("orders/paid")}`);
  });

  test("physicalName: names that read alike once altered stay apart", () => {
    for (const target of targets) {
      const names = ["orders/paid", "orders.paid", "orders paid", "orders-paid", "Orders-Paid", "orders*paid"];
      const physical = names.map((name) => physicalName(name, target));
      expect(new Set(physical).size, `${target}: ${physical.join(", ")}`).toBe(names.length);
      const long = ["a", "b"].map((end) => physicalName(`${"x".repeat(80)}${end}`, target));
      expect(long[0]).not.toBe(long[1]);
    }
  });

  test("physicalName: caps the length at the target's, or a lower maxLength", () => {
    expect(physicalName("x".repeat(200), "jetstream")).toHaveLength(32);
    expect(physicalName("x".repeat(200), "dns")).toHaveLength(63);
    expect(physicalName("x".repeat(200), "s3", { maxLength: 40 })).toHaveLength(40);
    expect(physicalName("x".repeat(200), "s3", { maxLength: 500 })).toHaveLength(63);
    expect(physicalName("x".repeat(63), "dns")).toBe("x".repeat(63));
  });
});

describe("deliveryRoute", () => {
  test("deliveryRoute: labels a route for people and keys it with a JetStream-safe name", () => {
    expect(deliveryRoute("orders/paid", { kind: "function", name: "fulfil" })).toEqual({
      label: "orders/paid → function fulfil",
      key: "orders_paid_function_fulfil",
    });
    expect(deliveryRoute("nightly", { kind: "function", name: "report" })).toEqual({
      label: "nightly → function report",
      key: "nightly_function_report",
    });
  });

  test("deliveryRoute: a long route's key is cut to 32 characters and ends in a hash of its label", () => {
    const route = deliveryRoute("payments/invoice-paid", { kind: "function", name: "send-receipt" });
    expect(route.key).toHaveLength(32);
    expect(route.key.endsWith(`_${fnv1a(route.label)}`)).toBe(true);
    const other = deliveryRoute("payments/invoice-paid", { kind: "function", name: "send-receipts" });
    expect(other.key).not.toBe(route.key);
  });

  test("deliveryRoute: a key always holds a `_`, so it never equals a resource name (a DNS label)", () => {
    const froms = ["orders/paid", "n", "s".repeat(40), `${"b".repeat(30)}/${"r".repeat(30)}`];
    for (const from of froms) {
      for (const kind of ["function", "queue", "bus"]) {
        const { key } = deliveryRoute(from, { kind, name: "t".repeat(20) });
        expect(key).toContain("_");
        expect(accepts.jetstream(key), key).toBe(true);
      }
    }
  });

  test("deliveryRoute: different routes get different keys", () => {
    const keys = [
      deliveryRoute("orders/paid", { kind: "function", name: "fulfil" }),
      deliveryRoute("orders/paid", { kind: "queue", name: "fulfil" }),
      deliveryRoute("orders/paid-function", { kind: "function", name: "fulfil" }),
      deliveryRoute("orders", { kind: "function", name: "fulfil" }),
    ].map((route) => route.key);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
