import { describe, expect, test } from "vitest";
import { App } from "../app/app.ts";
import { storeBucketName, storeKeys } from "./store-access.ts";
import { storeBuckets } from "./store-buckets.ts";
import { busNames } from "./subjects.ts";

function shop() {
  const app = new App("shop");
  const uploads = app.bucket("uploads");
  const receipts = app.bucket("receipts");
  const orders = app.bus("orders");
  receipts.notify(orders, { events: ["created"], prefix: "r/" });
  app.function("api", { handler: "./api.ts", link: { uploads, receipts } });
  app.function("thumbs", { handler: "./thumbs.ts", link: { uploads } });
  app.function("idle", { handler: "./idle.ts", link: { orders } });
  return app.toGraph();
}

const secret = (fn: string) => ({ accessKeyId: `AK-${fn}`, secretAccessKey: `secret-${fn}` });

describe("storeKeys", () => {
  test("storeKeys: a function's key is granted exactly the buckets it links, by their store names", () => {
    const keys = storeKeys(shop(), secret, { prefix: "prod-shop" });
    expect(keys).toEqual({
      api: {
        accessKeyId: "AK-api",
        secretAccessKey: "secret-api",
        buckets: [
          storeBucketName("receipts", { prefix: "prod-shop" }),
          storeBucketName("uploads", { prefix: "prod-shop" }),
        ],
      },
      thumbs: {
        accessKeyId: "AK-thumbs",
        secretAccessKey: "secret-thumbs",
        buckets: [storeBucketName("uploads", { prefix: "prod-shop" })],
      },
    });
  });

  test("storeKeys: a function that links no bucket gets no key", () => {
    expect(storeKeys(shop(), secret).idle).toBeUndefined();
  });
});

describe("storeBuckets", () => {
  test("storeBuckets: every bucket with its notifications, each with its bus's subject and schema", () => {
    expect(storeBuckets(shop(), { prefix: "prod-shop" })).toEqual([
      {
        name: storeBucketName("receipts", { prefix: "prod-shop" }),
        bucket: "receipts",
        notifications: [
          {
            bus: "orders",
            events: ["created"],
            prefix: "r/",
            suffix: "",
            subject: busNames("orders", { prefix: "prod-shop" }).subject,
            schema: null,
          },
        ],
      },
      { name: storeBucketName("uploads", { prefix: "prod-shop" }), bucket: "uploads", notifications: [] },
    ]);
  });
});
