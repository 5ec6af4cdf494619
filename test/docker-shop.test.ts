/**
 * The shop example on a real Docker engine, deployed through the Docker target's program
 * (DockerApp applied by the engine mocks, test/support/docker/deploy.ts) with the local
 * test images: orders through the gateway, the S3 endpoint with the aws CLI, the nightly
 * report by trigger, crashes and restarts of a function, NATS and the store, two replicas
 * behind the gateway, gVisor, a redeploy after a one-line change, and least privilege
 * across containers. The copy of the shop differs from examples/shop in three lines:
 * `api` runs two replicas, `report` runs under gVisor, and a bucket `audit` that no
 * function links exists (the least-privilege check needs one).
 *
 * Skipped, with the reason, where no engine answers; under CI=true a missing engine fails.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { jetstream } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { busNames, deliveryQueues, scheduleTriggerSubject } from "@nimbus/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { copyApp } from "./support/app-copy.ts";
import { repoRoot, runAsync } from "./support/cli.ts";
import { DockerDeployment } from "./support/docker/deploy.ts";
import { dockerAvailable } from "./support/docker/engine.ts";
import { buildTestImages } from "./support/docker/images.ts";
import { findService } from "./support/services.ts";

const skipReason = await dockerAvailable();
if (skipReason !== undefined) console.warn(`docker-shop.test.ts skipped: ${skipReason}`);

interface Order {
  id: string;
  total: number;
}

/** Resolves once `check` gives a value, polling every 100 ms; fails naming `what` after `ms`. */
async function eventually<T>(check: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? ` (${String(last)})` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe.skipIf(skipReason !== undefined)("the shop on a Docker engine", () => {
  let deployment: DockerDeployment;
  let app: { dir: string; remove: () => Promise<void> };
  let s3: S3Client;
  let bucket: string;

  const order = async (price = 1250): Promise<Order> => {
    const response = await fetch(`${deployment.gatewayUrl}/orders`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "ada@example.com", lines: [{ sku: "tea", quantity: 2, price }] }),
    });
    expect(response.status).toBe(201);
    return (await response.json()) as Order;
  };
  const object = async (key: string): Promise<string | undefined> => {
    try {
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return await got.Body!.transformToString();
    } catch (error) {
      if ((error as { name?: string }).name === "NoSuchKey") return undefined;
      throw error;
    }
  };
  /** Every order's receipt and mail were written. */
  const fulfilled = async (orders: readonly Order[], ms = 60_000) => {
    for (const placed of orders) {
      await eventually(() => object(`receipts/${placed.id}.json`), `the receipt of order ${placed.id}`, ms);
      await eventually(() => object(`mail/${placed.id}.txt`), `the mail of order ${placed.id}`, ms);
    }
  };
  const admin = async (): Promise<NatsConnection> => {
    const login = deployment.natsLogin("nimbus-admin");
    return connect({ servers: await deployment.natsUrl(), ...login, name: "docker-shop-test" });
  };

  beforeAll(async () => {
    await buildTestImages();
    app = await copyApp(join(repoRoot, "examples/shop"));
    const file = join(app.dir, "nimbus.app.ts");
    const source = await readFile(file, "utf8");
    const edited = source
      .replace('  timeout: "10s",\n});', '  timeout: "10s",\n  scale: 2,\n});')
      .replace('  routes: ["GET /report"],', '  routes: ["GET /report"],\n  isolation: "gvisor",')
      .replace("export default app;", 'export const audit = app.bucket("audit");\n\nexport default app;');
    expect(edited.match(/scale: 2|isolation: "gvisor"|app\.bucket\("audit"\)/g)).toHaveLength(3);
    await writeFile(file, edited);
    deployment = await DockerDeployment.deploy(app.dir);
    const access = deployment.s3();
    s3 = new S3Client({ ...access, forcePathStyle: true });
    bucket = access.bucketName("receipts");
    console.log(
      `docker-shop: deployed in ${((deployment.timings.synthMs + deployment.timings.applyMs + deployment.timings.readyMs) / 1000).toFixed(1)} s (synth ${(deployment.timings.synthMs / 1000).toFixed(1)} s, apply ${(deployment.timings.applyMs / 1000).toFixed(1)} s, ready ${(deployment.timings.readyMs / 1000).toFixed(1)} s)`,
    );
  }, 180_000);

  // The teardown also when a test failed half-way: every object of the run goes.
  afterAll(async () => {
    s3?.destroy();
    await deployment?.destroy();
    await app?.remove();
  }, 60_000);

  test("POST /orders: an order becomes a receipt (bus rule → queue → fulfil) and a mail (bucket notification → bus → mailer), read back through the gateway", async () => {
    const placed = await order();
    const answer = await eventually(async () => {
      const response = await fetch(`${deployment.gatewayUrl}/orders/${placed.id}`);
      const body = (await response.json()) as { receipt: { orderId: string; total: number } | null };
      return body.receipt ? body : undefined;
    }, "the receipt through GET /orders/:id");
    expect(answer.receipt).toMatchObject({ orderId: placed.id, total: 2500 });
    const mail = await eventually(() => object(`mail/${placed.id}.txt`), "the mail");
    expect(mail).toContain(`Subject: Your order ${placed.id}`);
    // A path no route takes: the gateway's own 404.
    const missing = await fetch(`${deployment.gatewayUrl}/nowhere`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe("No route matches GET /nowhere.");
  }, 60_000);

  test("S3 endpoint: the aws CLI lists the receipts and downloads a mail", async (context) => {
    // v2 first; Debian's awscli is v1, which signs with SigV4 and, for an endpoint on an IP
    // address, uses path-style URLs: our endpoint takes it as it is.
    const { found: aws } = findService("aws", [/^aws-cli\/2\./, /^aws-cli\/1\./]);
    if (!aws) {
      if (process.env.CI === "true") throw new Error("CI=true and no aws CLI (Debian package awscli) is installed");
      console.warn("docker-shop.test.ts: no aws CLI is installed; the S3 endpoint is checked with the SDK only");
      context.skip();
    }
    console.log(`docker-shop: ${aws!.path} (${aws!.version})`);
    const placed = await order();
    await fulfilled([placed]);
    const access = deployment.s3();
    const home = await mkdtemp(join(tmpdir(), "nimbus-docker-aws-"));
    try {
      const cli = (...args: string[]) =>
        runAsync(aws!.path, ["--endpoint-url", access.endpoint, ...args], {
          env: {
            PATH: process.env.PATH,
            HOME: home,
            AWS_ACCESS_KEY_ID: access.credentials.accessKeyId,
            AWS_SECRET_ACCESS_KEY: access.credentials.secretAccessKey,
            AWS_DEFAULT_REGION: access.region,
            AWS_EC2_METADATA_DISABLED: "true",
            AWS_PAGER: "",
          },
        });
      const listed = await cli("s3", "ls", `s3://${bucket}/receipts/`);
      expect(listed.status, listed.stderr).toBe(0);
      expect(listed.stdout).toContain(`${placed.id}.json`);
      const mailFile = join(home, "mail.txt");
      const copied = await cli("s3", "cp", `s3://${bucket}/mail/${placed.id}.txt`, mailFile);
      expect(copied.status, copied.stderr).toBe(0);
      expect(await readFile(mailFile, "utf8")).toContain(`Subject: Your order ${placed.id}`);
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  }, 60_000);

  test("schedule trigger: a request to the control role fires the nightly report, which writes reports/<day>.json", async () => {
    const nc = await admin();
    try {
      const reply = await nc.request(
        scheduleTriggerSubject({ prefix: deployment.names.prefix }),
        JSON.stringify({ schedule: "nightly-report" }),
        { timeout: 10_000 },
      );
      const { scheduledTime } = reply.json<{ scheduledTime: number }>();
      expect(Math.abs(scheduledTime - Date.now())).toBeLessThan(30_000);
      const day = new Date(scheduledTime).toISOString().slice(0, 10);
      const report = JSON.parse(await eventually(() => object(`reports/${day}.json`), "the report")) as {
        receipts: number;
      };
      expect(report.receipts).toBeGreaterThanOrEqual(1);
    } finally {
      await nc.close();
    }
  }, 60_000);

  test("a killed function container: its restart policy brings it back and no message is lost", async () => {
    const [fulfil] = deployment.replicas("fulfil");
    const placed = await Promise.all(Array.from({ length: 5 }, () => order()));
    const before = await deployment.inspect(fulfil!);
    const after = await deployment.crash(fulfil!);
    expect(after.RestartCount).toBeGreaterThan(before.RestartCount);
    expect(after.HostConfig.RestartPolicy.Name).toBe("unless-stopped");
    await fulfilled([...placed, await order()]);
  }, 120_000);

  test("NATS restarted: the hosts reconnect and no message is lost", async () => {
    const placed = await Promise.all(Array.from({ length: 5 }, () => order()));
    await deployment.restart(deployment.names.nats);
    placed.push(await eventually(() => order().catch(() => undefined), "an order after the restart"));
    await fulfilled(placed, 90_000);
  }, 150_000);

  test("store restarted: no object is lost, and writes go on", async () => {
    const keys = Array.from({ length: 10 }, (_, index) => `restart/${index}.txt`);
    for (const key of keys) await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: `kept ${key}` }));
    await deployment.restart(deployment.names.store);
    for (const key of keys) expect(await object(key)).toBe(`kept ${key}`);
    await fulfilled([await order()]);
  }, 120_000);

  test("scale 2: both replicas serve requests behind the gateway, and stopping one loses no request", async () => {
    const replicas = deployment.replicas("api");
    expect(replicas).toHaveLength(2);
    const received = async () =>
      Promise.all(
        replicas.map(async (name) => {
          const stats = await deployment.engine.call<{ networks?: Record<string, { rx_bytes: number }> }>(
            "GET",
            `/containers/${name}/stats`,
            { query: { stream: false, "one-shot": true } },
          );
          return Object.values(stats.networks ?? {}).reduce((sum, network) => sum + network.rx_bytes, 0);
        }),
      );
    const placed = await order();
    // Long paths, so that each replica's received bytes show its share above the health checks.
    const path = `/orders/${placed.id}?pad=${"x".repeat(2_000)}`;
    const start = await received();
    for (let i = 0; i < 60; i++) expect((await fetch(`${deployment.gatewayUrl}${path}`)).status).toBe(200);
    const end = await received();
    const shares = end.map((bytes, index) => bytes - start[index]!);
    const total = shares.reduce((sum, bytes) => sum + bytes, 0);
    expect(total).toBeGreaterThan(60 * 2_000);
    for (const share of shares) expect(share / total).toBeGreaterThan(0.25);

    // One replica stops (SIGTERM, as a deploy or `docker stop` does) while requests keep coming.
    const statuses: number[] = [];
    let stopping = true;
    const load = (async () => {
      while (stopping) {
        const response = await fetch(`${deployment.gatewayUrl}${path}`);
        await response.arrayBuffer();
        statuses.push(response.status);
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 300));
    await deployment.stop(replicas[1]!);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    stopping = false;
    await load;
    expect(statuses.length).toBeGreaterThan(10);
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    await deployment.start(replicas[1]!);
  }, 120_000);

  test("isolation gvisor: the report function runs under runsc and still serves its route", async (context) => {
    const info = await deployment.engine.call<{ Runtimes: Record<string, unknown> }>("GET", "/info");
    if (!("runsc" in info.Runtimes)) {
      console.warn("docker-shop.test.ts: runsc is not a runtime of this engine; the gVisor check is skipped");
      context.skip();
    }
    const [report] = deployment.replicas("report");
    expect((await deployment.inspect(report!)).HostConfig.Runtime).toBe("runsc");
    expect((await deployment.inspect(deployment.replicas("api")[0]!)).HostConfig.Runtime).toBe("runc");
    const response = await fetch(`${deployment.gatewayUrl}/report`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ receipts: expect.any(Number), keys: expect.any(Array) });
    // gVisor's kernel answers inside, not the host's.
    const kernel = await deployment.exec(report!, ["node", "-e", "console.log(require('node:os').release())"]);
    expect(kernel.exitCode).toBe(0);
    expect(kernel.output.trim()).not.toBe((await import("node:os")).release());
  }, 60_000);

  test("least privilege: a function's credentials reach neither another function's subjects nor an unlinked bucket", async () => {
    const [fulfil] = deployment.replicas("fulfil");
    const env = Object.fromEntries(
      (await deployment.inspect(fulfil!)).Config.Env.map((line) => [
        line.slice(0, line.indexOf("=")),
        line.slice(line.indexOf("=") + 1),
      ]),
    );
    // The container's own credentials, used from outside: the servers enforce them, not the host.
    expect(env.NIMBUS_NATS_USER).toBe("function-fulfil");
    const nc = await connect({
      servers: await deployment.natsUrl(),
      user: env.NIMBUS_NATS_USER,
      pass: env.NIMBUS_NATS_PASSWORD,
      inboxPrefix: deployment.natsLogin("function-fulfil").inboxPrefix,
    });
    const errors: string[] = [];
    void (async () => {
      for await (const status of nc.status()) if (status.type === "error") errors.push(String(status.error));
    })();
    try {
      // fulfil links no bus: putting on `orders` is refused by the server.
      const js = jetstream(nc);
      await expect(
        js.publish(busNames("orders", { prefix: deployment.names.prefix }).subject, "{}", { timeout: 3_000 }),
      ).rejects.toThrow();
      // The mailer's delivery queue (rule receipt-written → mailer) is not fulfil's to pull from.
      const mailer = deliveryQueues(deployment.graph, { prefix: deployment.names.prefix }).find(
        (delivery) => delivery.function === "mailer",
      )!;
      await expect(
        nc.request(`$JS.API.CONSUMER.MSG.NEXT.${mailer.names.stream}.${mailer.names.consumer}`, "1", {
          timeout: 3_000,
        }),
      ).rejects.toThrow();
      expect(errors.join("\n")).toMatch(/Permissions Violation/i);
    } finally {
      await nc.close();
    }

    const own = new S3Client({
      endpoint: deployment.s3().endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: env.NIMBUS_S3_ACCESS_KEY_ID!, secretAccessKey: env.NIMBUS_S3_SECRET_ACCESS_KEY! },
    });
    try {
      // Its linked bucket opens; the one no function links does not.
      const linked = await own.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: "receipts/" }));
      expect(linked.KeyCount).toBeGreaterThan(0);
      await expect(
        own.send(new PutObjectCommand({ Bucket: deployment.s3().bucketName("audit"), Key: "x", Body: "no" })),
      ).rejects.toMatchObject({ name: "AccessDenied" });
    } finally {
      own.destroy();
    }
  }, 60_000);

  test("redeploy: a one-line change in one handler builds one new image; the other functions' images and containers stay", async () => {
    const functions = ["api", "fulfil", "mailer", "report"];
    const imageOf = async (fn: string) => (await deployment.inspect(deployment.replicas(fn)[0]!)).Image;
    const before = Object.fromEntries(await Promise.all(functions.map(async (fn) => [fn, await imageOf(fn)])));
    const file = join(app.dir, "src/report.ts");
    const source = await readFile(file, "utf8");
    const changed = source.replace(
      "return Response.json(await summarise(env, new Date().toISOString().slice(0, 10)));",
      'return Response.json({ ...(await summarise(env, new Date().toISOString().slice(0, 10))), edition: "second" });',
    );
    expect(changed).not.toBe(source);
    await writeFile(file, changed);
    const timings = await deployment.redeploy();
    console.log(
      `docker-shop: redeployed in ${((timings.synthMs + timings.applyMs + timings.readyMs) / 1000).toFixed(1)} s`,
    );
    const after = Object.fromEntries(await Promise.all(functions.map(async (fn) => [fn, await imageOf(fn)])));
    expect(after.report).not.toBe(before.report);
    for (const fn of ["api", "fulfil", "mailer"]) expect(after[fn], fn).toBe(before[fn]);
    const built = deployment.applied.filter(
      (resource) => resource.type === "docker:index/image:Image" && !resource.kept,
    );
    expect(built.map((resource) => resource.name)).toEqual([deployment.names.functionImage("report")]);
    const replaced = deployment.applied.filter(
      (resource) => resource.type === "docker:index/container:Container" && !resource.kept,
    );
    expect(replaced.map((resource) => resource.name)).toEqual(deployment.replicas("report"));
    const response = await fetch(`${deployment.gatewayUrl}/report`);
    expect(await response.json()).toMatchObject({ edition: "second" });
  }, 120_000);
});
