import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { App, natsPermissions, queueNames, renderNatsConfig, resourcesOf } from "@nimbus/core";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connectAsAdmin, type HostProcess, natsPasswords, spawnHost } from "./host.test-helper.ts";
import { provisionNats } from "./provision.ts";
import { JetStreamQueues } from "./queue.ts";
import { type NatsServer, natsServerMissing, startNatsServer } from "./testing/nats-server.ts";

const missing = natsServerMissing();
if (missing) console.warn(`host function role tests skipped: ${missing}`);

/** The handler the hosts serve, bundled by esbuild as a deploy bundles one. */
const handlerSource = `
const received = [];
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname.startsWith("/orders/")) {
      console.log("order", ctx.params.id);
      return Response.json({ id: ctx.params.id, invocationId: ctx.invocationId });
    }
    if (url.pathname === "/boom") throw new Error("boom from the handler");
    if (url.pathname === "/stray") {
      setTimeout(() => { throw new Error("stray throw after the response"); });
      return new Response("answered");
    }
    if (url.pathname === "/until-sigterm") {
      console.log("waiting for SIGTERM");
      await new Promise((resolve) => process.once("SIGTERM", resolve));
      return new Response("finished after SIGTERM");
    }
    if (url.pathname === "/send") {
      await env.jobs.send({ job: url.searchParams.get("job") });
      return new Response("sent");
    }
    if (url.pathname === "/received") return Response.json(received);
    return new Response("no such page", { status: 404 });
  },
  async queue(batch) {
    for (const message of batch.messages) received.push(message.body);
  },
};
`;

function graphJson(): string {
  const app = new App("hosted");
  const jobs = app.queue("jobs");
  const api = app.function("api", { handler: "./src/api.ts", routes: ["GET /orders/:id", "ANY /*"], link: { jobs } });
  jobs.subscribe(api);
  return JSON.stringify(app.toGraph());
}

/** A temporary directory with the handler bundled by esbuild, as a deploy bundles one, in `api.mjs`. */
async function bundledHandler(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "nimbus-host-"));
  await writeFile(join(dir, "api.ts"), handlerSource);
  await build({
    entryPoints: [join(dir, "api.ts")],
    outfile: join(dir, "api.mjs"),
    bundle: true,
    platform: "node",
    format: "esm",
    logLevel: "silent",
  });
  return dir;
}

describe.skipIf(missing !== undefined)("host function role", () => {
  let dir: string;
  let nats: NatsServer;
  let baseEnv: Record<string, string>;
  const hosts: HostProcess[] = [];

  const start = async (env: Record<string, string> = {}) => {
    const host = spawnHost({ ...baseEnv, ...env });
    hosts.push(host);
    await Promise.race([
      host.line((line) => line.message.startsWith("loaded ")),
      host.exited.then(({ output }) => {
        throw new Error(`the host exited before it was ready:\n${output}`);
      }),
    ]);
    return host;
  };

  beforeAll(async () => {
    dir = await bundledHandler();
    nats = await startNatsServer();
    // The host creates no stream: a deploy provisions them first (provision.ts).
    const nc = await connect({ servers: nats.url });
    await provisionNats(nc, JSON.parse(graphJson()), { prefix: `t${process.pid}` });
    await nc.close();
    baseEnv = {
      NIMBUS_ROLE: "function",
      NIMBUS_FUNCTION: "api",
      NIMBUS_GRAPH: graphJson(),
      NIMBUS_HANDLER: join(dir, "api.mjs"),
      NIMBUS_NATS_URL: nats.url,
      NIMBUS_PORT: "0",
      NIMBUS_HOSTNAME: "127.0.0.1",
      NIMBUS_PREFIX: `t${process.pid}`,
    };
  }, 30_000);

  afterAll(async () => {
    for (const host of hosts) host.child.kill("SIGKILL");
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("fetch: serves a route with its parameters; console lines carry the function and invocation", async () => {
    const host = await start();
    const response = await fetch(host.url("/orders/42"));
    expect(response.status).toBe(200);
    const body = (await response.json()) as { id: string; invocationId: string };
    expect(body.id).toBe("42");
    const logged = await host.line((line) => line.message === "order 42");
    expect(logged).toMatchObject({ fn: "api", invocationId: body.invocationId, level: "info" });
    expect(Object.keys(logged).sort()).toEqual(["fn", "invocationId", "level", "message", "time"]);
    await host.line(
      (line) => line.message.startsWith("GET /orders/42 200 ") && line.invocationId === body.invocationId,
    );
    host.child.kill("SIGTERM");
    expect((await host.exited).code).toBe(0);
  });

  test("fetch: a handler that throws answers 500, is logged with its stack, and the host serves on", async () => {
    const host = await start();
    const failed = await fetch(host.url("/boom"));
    expect(failed.status).toBe(500);
    expect(await failed.text()).not.toContain("boom");
    const logged = await host.line((line) => line.message.includes("boom from the handler"));
    expect(logged).toMatchObject({ fn: "api", level: "error" });
    expect(logged.message).toContain("at Object.fetch");
    expect(logged.invocationId).toMatch(/^[0-9a-f]{8}$/);

    expect((await fetch(host.url("/stray"))).status).toBe(200);
    await host.line((line) => line.message.startsWith("uncaught exception: Error: stray throw after the response"));
    expect((await fetch(host.url("/orders/7"))).status).toBe(200);
    expect(host.child.exitCode).toBeNull();
    host.child.kill("SIGTERM");
    expect((await host.exited).code).toBe(0);
  });

  test("readiness: not ready until the handler has loaded and NATS is connected", async () => {
    await nats.kill();
    const host = spawnHost(baseEnv);
    hosts.push(host);
    try {
      await host.line((line) => line.message.startsWith("listening on "));
      const live = await fetch(host.url("/_nimbus/health/live"));
      expect(live.status).toBe(200);
      const waiting = await fetch(host.url("/_nimbus/health/ready"));
      expect(waiting.status).toBe(503);
      expect(await waiting.json()).toEqual({ status: "not ready", waiting: ["handler", "nats"] });
      expect((await fetch(host.url("/orders/1"))).status).toBe(503);
    } finally {
      await nats.start();
    }
    await host.line((line) => line.message.startsWith("loaded "));
    const ready = await fetch(host.url("/_nimbus/health/ready"));
    expect(ready.status).toBe(200);
    host.child.kill("SIGTERM");
    expect((await host.exited).code).toBe(0);
  }, 30_000);

  test("shutdown: SIGTERM lets a running request finish, then exits 0", async () => {
    const host = await start();
    const slow = fetch(host.url("/until-sigterm"));
    await host.line((line) => line.message === "waiting for SIGTERM");
    host.child.kill("SIGTERM");
    const response = await slow;
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("finished after SIGTERM");
    expect((await host.exited).code).toBe(0);
    const stopping = host.lines.findIndex((line) => line.message.startsWith("stopping: finishing 1 invocation"));
    const answered = host.lines.findIndex((line) => line.message.startsWith("GET /until-sigterm 200 "));
    expect(stopping).toBeGreaterThanOrEqual(0);
    expect(answered).toBeGreaterThan(stopping);
  });

  test("queue: a message sent from a route through env is consumed by the same host", async () => {
    const host = await start();
    expect((await fetch(host.url("/send?job=first"))).status).toBe(200);
    await host.line((line) => /^queue jobs: 1 message\(s\) ok/.test(line.message));
    expect(await (await fetch(host.url("/received"))).json()).toEqual([{ job: "first" }]);
    host.child.kill("SIGTERM");
    expect((await host.exited).code).toBe(0);
  });

  test("config: a bad environment exits 1 with a message naming each variable", async () => {
    const host = spawnHost({ NIMBUS_ROLE: "function", NIMBUS_PORT: "eighty", NIMBUS_NATS_URL: nats.url });
    expect((await host.exited).code).toBe(1);
    const { message } = await host.line((line) => line.level === "error");
    expect(message).toContain("the host's environment is not valid");
    expect(message).toContain("NIMBUS_GRAPH is not set");
    expect(message).toContain("NIMBUS_FUNCTION is not set");
    expect(message).toContain('NIMBUS_PORT is "eighty"; expected the HTTP port');
  });
});

/** `api` links and consumes `jobs`; `other` belongs to `worker` alone. */
function leastPrivilegeApp() {
  const app = new App("hosted");
  const jobs = app.queue("jobs");
  const other = app.queue("other");
  const api = app.function("api", { handler: "./src/api.ts", routes: ["ANY /*"], link: { jobs } });
  const worker = app.function("worker", { handler: "./src/worker.ts", link: { other } });
  jobs.subscribe(api);
  other.subscribe(worker);
  return app.toGraph();
}

describe.skipIf(missing !== undefined)("host function role under its own NATS user", () => {
  const graph = leastPrivilegeApp();
  const prefix = `t${process.pid}`;
  const users = natsPermissions(graph, { prefix });
  const passwords = natsPasswords(users);
  const api = users.functions.api!;
  let dir: string;
  let nats: NatsServer;
  let admin: NatsConnection;
  const open: NatsConnection[] = [];
  let host: HostProcess | undefined;

  beforeAll(async () => {
    dir = await bundledHandler();
    nats = await startNatsServer({
      config: ({ listen, storeDir }) => renderNatsConfig(users, { app: graph.app, passwords, listen, storeDir }),
    });
    admin = await connectAsAdmin(nats.url, users, passwords);
    open.push(admin);
    // The deploy's order: streams and durables first, as the admin; the host may create nothing.
    await provisionNats(admin, graph, { prefix });
  }, 30_000);

  afterAll(async () => {
    host?.child.kill("SIGKILL");
    await Promise.all(open.map((nc) => nc.close()));
    await nats?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test("queue: a route sends to its linked queue and the host consumes it, with only the function's rights", async () => {
    host = spawnHost({
      NIMBUS_ROLE: "function",
      NIMBUS_FUNCTION: "api",
      NIMBUS_GRAPH: JSON.stringify(graph),
      NIMBUS_HANDLER: join(dir, "api.mjs"),
      NIMBUS_NATS_URL: nats.url,
      NIMBUS_NATS_USER: api.user,
      NIMBUS_NATS_PASSWORD: passwords[api.user]!,
      NIMBUS_PORT: "0",
      NIMBUS_HOSTNAME: "127.0.0.1",
      NIMBUS_PREFIX: prefix,
    });
    await Promise.race([
      host.line((line) => line.message.startsWith("loaded ")),
      host.exited.then(({ output }) => {
        throw new Error(`the host exited before it was ready:\n${output}`);
      }),
    ]);
    expect((await fetch(host.url("/send?job=least"))).status).toBe(200);
    await host.line((line) => /^queue jobs: 1 message\(s\) ok/.test(line.message));
    expect(await (await fetch(host.url("/received"))).json()).toEqual([{ job: "least" }]);
    const jsm = await jetstreamManager(admin);
    expect((await jsm.streams.info(queueNames("jobs", { prefix }).stream)).state.messages).toBe(0);
    expect(host.lines.filter((line) => line.level !== "info")).toEqual([]);
    host.child.kill("SIGTERM");
    expect((await host.exited).code).toBe(0);
  });

  test("send: with the function's credentials, a send to a queue it does not link is refused by the server and nothing is stored", async () => {
    const nc = await connect({
      servers: nats.url,
      user: api.user,
      pass: passwords[api.user]!,
      inboxPrefix: api.inboxPrefix,
    });
    open.push(nc);
    const queues = await JetStreamQueues.open({
      nc,
      queues: Object.fromEntries(resourcesOf(graph, "queue").map((queue) => [queue.name, queue.spec])),
      prefix,
      inboxPrefix: api.inboxPrefix,
    });
    const send = queues.send("other", [{ format: "json", body: new TextEncoder().encode('{"job":"not yours"}') }]);
    await expect(send).rejects.toMatchObject({ code: "NIMBUS_QUEUE_SEND" });
    await expect(send).rejects.toThrow(/permissions violation/i);
    const jsm = await jetstreamManager(admin);
    expect((await jsm.streams.info(queueNames("other", { prefix }).stream)).state.messages).toBe(0);
  });
});
