import { AsyncLocalStorage } from "node:async_hooks";
import type { Chain } from "@nimbus/core";
import { describe, expect, it } from "vitest";
import { type BucketTransport, bucketClient } from "./bucket.ts";
import { type BusTransport, busClient } from "./bus.ts";
import { handlerInvoker } from "./invoker.ts";
import { type QueueTransport, queueClient } from "./queue.ts";

/** Clients over transports that record the chain each call carries, and an invoker whose handlers call them. */
function harness() {
  const chains = new AsyncLocalStorage<Chain>();
  const current = () => chains.getStore();
  const carried: { call: string; chain: Chain | undefined }[] = [];
  const queue: QueueTransport = {
    send: async (_messages, chain) => {
      carried.push({ call: "send", chain });
    },
  };
  const bus: BusTransport = {
    put: async (entries, chain) => {
      carried.push({ call: "put", chain });
      return entries.map(() => "id");
    },
  };
  const bucket = {
    put: async (key: string, _body: unknown, options: { chain?: Chain }) => {
      carried.push({ call: "write", chain: options.chain });
      return { key, size: 0, etag: "e", contentType: "text/plain", metadata: {}, uploaded: 0 };
    },
    delete: async (_keys: string[], chain?: Chain) => {
      carried.push({ call: "delete", chain });
    },
  } as unknown as BucketTransport;
  const env = {
    jobs: queueClient("jobs", queue, current),
    events: busClient(bus, current),
    uploads: bucketClient("uploads", bucket, current),
  };
  const calls = async () => {
    // One call not awaited by the handler's own frame: the chain follows it all the same.
    await Promise.all([
      env.jobs.send({ n: 1 }),
      env.events.put([{ source: "a", detailType: "b", detail: {} }]),
      new Promise((resolve) => setTimeout(resolve, 1)).then(() => env.uploads.put("k", "v")),
      env.uploads.delete("k"),
    ]);
  };
  const invoker = handlerInvoker(
    {
      default: {
        event: calls,
        fetch: async () => {
          await calls();
          return new Response();
        },
      },
    },
    env,
    { name: "resize", chains },
  );
  return { invoker, carried, env };
}

describe("chains", () => {
  it("run: every binding call made in a delivery's invocation carries its chain (§loops/1)", async () => {
    const { invoker, carried } = harness();
    const chain = { id: "c1", depth: 5 };
    await invoker.run("event", {}, { invocationId: "i", chain });
    expect(carried.map((c) => c.call).sort()).toEqual(["delete", "put", "send", "write"]);
    for (const call of carried) expect(call.chain).toEqual(chain);
  });

  it("fetch: a request's invocation starts a new chain at depth 1 (§loops/1)", async () => {
    const { invoker, carried } = harness();
    await invoker.fetch(new Request("http://app/"), { invocationId: "i", params: {} });
    const ids = new Set(carried.map((c) => c.chain?.id));
    expect(ids.size).toBe(1);
    for (const call of carried) expect(call.chain?.depth).toBe(1);
  });

  it("run: two invocations at once keep their own chains", async () => {
    const { invoker, carried } = harness();
    await Promise.all([
      invoker.run("event", {}, { invocationId: "a", chain: { id: "a", depth: 2 } }),
      invoker.run("event", {}, { invocationId: "b", chain: { id: "b", depth: 9 } }),
    ]);
    expect(carried.filter((c) => c.chain?.id === "a").every((c) => c.chain?.depth === 2)).toBe(true);
    expect(carried.filter((c) => c.chain?.id === "b").every((c) => c.chain?.depth === 9)).toBe(true);
    expect(carried).toHaveLength(8);
  });

  it("clients: a call made outside any invocation carries no chain", async () => {
    const { env, carried } = harness();
    await env.jobs.send({ n: 1 });
    await env.uploads.put("k", "v");
    expect(carried).toEqual([
      { call: "send", chain: undefined },
      { call: "write", chain: undefined },
    ]);
  });
});
