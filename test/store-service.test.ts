// The Nimbus store as a service, black-box: a real child process, real SDK clients, a
// real nats-server. Least privilege (per-key buckets), durability through kill -9, and
// notifications from writes over S3.
import { type ChildProcess, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListBucketsCommand,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { App, busNames, storeBucketName, storeKeys } from "@nimbus/core";
import { s3Transport } from "@nimbus/runtime/host";
import { type NatsServer, startNatsServer } from "@nimbus/runtime/host/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { z } from "zod";

const serviceMain = fileURLToPath(new URL("../packages/store/src/service/main.ts", import.meta.url));

/** Two buckets; function `thumbs` links only `alpha`, and gets its store key from the graph's links. */
function app() {
  const shop = new App("shop");
  const linked = shop.bucket("alpha");
  shop.bucket("beta");
  shop.function("thumbs", { handler: "./thumbs.ts", link: { alpha: linked } });
  return shop.toGraph();
}
const limited = storeKeys(app(), () => ({
  accessKeyId: "NIMBUSLIMITED0000001",
  secretAccessKey: "limited-secret-limited-secret-limited-00",
})).thumbs!;
const alpha = storeBucketName("alpha");
const beta = storeBucketName("beta");
const admin = {
  accessKeyId: "NIMBUSADMIN000000001",
  secretAccessKey: "admin-secret-admin-secret-admin-secret-0",
  buckets: "*",
};

/** One run of the service: its URL, and a way to end it. */
interface Running {
  url: string;
  child: ChildProcess;
  output: () => string;
}

async function startService(env: Record<string, string>): Promise<Running> {
  const child = spawn(
    process.execPath,
    ["--conditions=nimbus-source", "--disable-warning=ExperimentalWarning", serviceMain],
    {
      env: { PATH: process.env.PATH ?? "", NIMBUS_STORE_LISTEN: "127.0.0.1:0", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let output = "";
  const url = await new Promise<string>((resolve, reject) => {
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      const match = /over S3 at (http:\/\/[^,\s]+)/.exec(output);
      if (match) resolve(match[1]!);
    };
    child.stdout?.on("data", read);
    child.stderr?.on("data", read);
    child.once("exit", (code, signal) =>
      reject(new Error(`the store exited (${signal ?? code}) before serving:\n${output}`)),
    );
  });
  return { url, child, output: () => output };
}

interface LogLine {
  level: string;
  message: string;
}

/** The first of the service's log lines (JSON, on stdout) that `match` accepts: written already, or awaited. */
function logged(running: Running, match: (line: LogLine) => boolean): Promise<LogLine> {
  const find = () =>
    running
      .output()
      .split("\n")
      // The last piece is a line still being written.
      .slice(0, -1)
      .filter((line) => line.startsWith("{"))
      .map((line) => JSON.parse(line) as LogLine & { time: string; service: string })
      .map(({ level, message }) => ({ level, message }))
      .find(match);
  return new Promise((resolve, reject) => {
    const check = () => {
      const line = find();
      if (!line) return;
      running.child.stdout?.off("data", check);
      resolve(line);
    };
    running.child.stdout?.on("data", check);
    running.child.once("exit", () => reject(new Error(`the store exited without logging it:\n${running.output()}`)));
    check();
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once("exit", (code) => resolve(code)));
}

function client(url: string, key: { accessKeyId: string; secretAccessKey: string }): S3Client {
  return new S3Client({
    endpoint: url,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    maxAttempts: 1,
  });
}

async function refusal(promise: Promise<unknown>): Promise<{ name: string; status?: number }> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof S3ServiceException) return { name: error.name, status: error.$metadata.httpStatusCode };
    throw error;
  }
  throw new Error("the request succeeded; expected a refusal");
}

describe("store service: keys and durability", () => {
  let data: string;
  let env: Record<string, string>;
  let service: Running;

  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), "nimbus-store-service-"));
    const graphFile = join(data, "graph.json");
    await writeFile(graphFile, JSON.stringify(app()));
    env = {
      NIMBUS_STORE_DATA: join(data, "store"),
      NIMBUS_GRAPH_FILE: graphFile,
      NIMBUS_STORE_KEYS: JSON.stringify([limited, admin]),
    };
    service = await startService(env);
  });

  afterAll(async () => {
    service.child.kill("SIGKILL");
    await exited(service.child);
    await rm(data, { recursive: true, force: true });
  });

  test("PutObject/GetObject: a key works on the buckets it is granted", async () => {
    const s3 = client(service.url, limited);
    await s3.send(new PutObjectCommand({ Bucket: alpha, Key: "hello.txt", Body: "hi" }));
    const got = await s3.send(new GetObjectCommand({ Bucket: alpha, Key: "hello.txt" }));
    expect(await got.Body?.transformToString()).toBe("hi");
    s3.destroy();
  });

  test("PutObject/GetObject: a function's key from the graph is refused a bucket the function does not link (AccessDenied)", async () => {
    expect(limited.buckets).toEqual([alpha]);
    const s3 = client(service.url, limited);
    await client(service.url, admin).send(new PutObjectCommand({ Bucket: beta, Key: "secret.txt", Body: "no" }));
    expect(await refusal(s3.send(new PutObjectCommand({ Bucket: beta, Key: "x", Body: "x" })))).toEqual({
      name: "AccessDenied",
      status: 403,
    });
    expect(await refusal(s3.send(new GetObjectCommand({ Bucket: beta, Key: "secret.txt" })))).toEqual({
      name: "AccessDenied",
      status: 403,
    });
    // Not even whether a bucket exists is told to a key without access.
    expect(await refusal(s3.send(new CreateBucketCommand({ Bucket: "gamma" })))).toMatchObject({
      name: "AccessDenied",
    });
    s3.destroy();
  });

  test("ListBuckets: shows only the buckets the key is granted", async () => {
    const mine = await client(service.url, limited).send(new ListBucketsCommand({}));
    expect(mine.Buckets?.map((bucket) => bucket.Name)).toEqual([alpha]);
    const all = await client(service.url, admin).send(new ListBucketsCommand({}));
    expect(all.Buckets?.map((bucket) => bucket.Name)).toEqual([alpha, beta]);
  });

  test("kill -9: every acknowledged write is there, whole, after a restart", async () => {
    let s3 = client(service.url, limited);
    // Small bodies live in the index, larger ones in blob files: both kinds are written.
    const bodies = new Map<string, string>();
    const acknowledged: string[] = [];
    let killed = false;
    const writers = Array.from({ length: 8 }, async (_, writer) => {
      for (let i = 0; !killed; i++) {
        const key = `crash/${writer}/${i}`;
        const body = randomBytes(i % 2 === 0 ? 512 : 96 * 1024);
        bodies.set(key, createHash("md5").update(body).digest("hex"));
        try {
          await s3.send(new PutObjectCommand({ Bucket: alpha, Key: key, Body: body }));
          acknowledged.push(key);
        } catch {
          return;
        }
        if (acknowledged.length === 120 && !killed) {
          killed = true;
          service.child.kill("SIGKILL");
        }
      }
    });
    await Promise.all(writers);
    await exited(service.child);
    s3.destroy();
    expect(acknowledged.length).toBeGreaterThanOrEqual(120);

    service = await startService(env);
    s3 = client(service.url, limited);
    for (const key of acknowledged) {
      const got = await s3.send(new GetObjectCommand({ Bucket: alpha, Key: key }));
      const bytes = await got.Body!.transformToByteArray();
      expect(createHash("md5").update(bytes).digest("hex"), key).toBe(bodies.get(key));
    }
    s3.destroy();
  });

  test("SIGTERM: answers the request in flight, then exits 0", async () => {
    const url = await getSignedUrl(client(service.url, limited), new PutObjectCommand({ Bucket: alpha, Key: "last" }), {
      expiresIn: 60,
    });
    const body = randomBytes(4 * 1024 * 1024);
    // "100 Continue" comes once the service holds the request: the signal goes then, and
    // the body after it.
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const request = httpRequest(url, {
        method: "PUT",
        headers: { expect: "100-continue", "content-length": String(body.byteLength) },
      });
      request.once("continue", () => {
        service.child.kill("SIGTERM");
        request.end(body);
      });
      request.once("response", (response) => {
        response.resume();
        resolve(response.statusCode);
      });
      request.once("error", reject);
      request.flushHeaders();
    });
    expect(status).toBe(200);
    expect(await exited(service.child)).toBe(0);
    service = await startService(env);
    const got = await client(service.url, limited).send(new GetObjectCommand({ Bucket: alpha, Key: "last" }));
    expect(
      createHash("md5")
        .update(await got.Body!.transformToByteArray())
        .digest("hex"),
    ).toBe(createHash("md5").update(body).digest("hex"));
  });
});

/** `NATS_SERVER`, or the first `nats-server` on PATH or in the sbin folders. */
function natsBinary(): string | undefined {
  if (process.env.NATS_SERVER) return existsSync(process.env.NATS_SERVER) ? process.env.NATS_SERVER : undefined;
  return [...(process.env.PATH ?? "").split(delimiter), "/usr/sbin", "/usr/local/sbin"]
    .filter((folder) => folder !== "")
    .map((folder) => join(folder, "nats-server"))
    .find((path) => existsSync(path));
}
const binary = natsBinary();
if (!binary) {
  const reason = "nats-server is not installed (Debian: apt-get install nats-server; or set NATS_SERVER)";
  if (process.env.CI === "true") throw new Error(`nats-server is required on CI: ${reason}`);
  console.warn(`store service notifications: skipped: ${reason}`);
}

describe.skipIf(!binary)("store service: notifications", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let data: string;
  let service: Running;
  const bus = busNames("orders");
  const strictBus = busNames("strict");
  const receipts = storeBucketName("receipts");
  const guarded = storeBucketName("guarded");

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    const streams = (await jetstreamManager(nc)).streams;
    await streams.add({ name: bus.stream, subjects: [bus.subject] });
    await streams.add({ name: strictBus.stream, subjects: [strictBus.subject] });
    const app = new App("shop");
    const orders = app.bus("orders");
    app.bucket("receipts").notify(orders, { events: ["created"], prefix: "r/" });
    // Its schema names only "Object Deleted": it refuses the bucket's creations.
    const strict = app.bus("strict", {
      schema: { "Object Deleted": z.looseObject({ object: z.looseObject({ key: z.string() }) }) },
    });
    app.bucket("guarded").notify(strict);
    data = await mkdtemp(join(tmpdir(), "nimbus-store-notify-"));
    const graphFile = join(data, "graph.json");
    await writeFile(graphFile, JSON.stringify(app.toGraph()));
    service = await startService({
      NIMBUS_STORE_DATA: join(data, "store"),
      NIMBUS_GRAPH_FILE: graphFile,
      NIMBUS_STORE_KEYS: JSON.stringify([{ ...limited, buckets: [receipts, guarded] }]),
      NIMBUS_NATS_URL: nats.url,
    });
  });

  afterAll(async () => {
    service?.child.kill("SIGTERM");
    if (service) await exited(service.child);
    await nc?.close();
    await nats?.stop();
    await rm(data, { recursive: true, force: true });
  });

  test("PutObject: a write through S3 publishes the bucket's event on the bus's stream", async () => {
    const s3 = client(service.url, limited);
    await s3.send(new PutObjectCommand({ Bucket: receipts, Key: "other/skip.txt", Body: "not notified" }));
    await s3.send(new PutObjectCommand({ Bucket: receipts, Key: "r/1.txt", Body: "paid" }));
    const consumer = await jetstream(nc).consumers.get(bus.stream);
    const message = await consumer.next({ expires: 20_000 });
    expect(message).not.toBeNull();
    expect(message!.subject).toBe(bus.subject);
    expect(message!.json()).toMatchObject({
      source: "nimbus.bucket",
      "detail-type": "Object Created",
      resources: ["receipts"],
      detail: {
        bucket: { name: "receipts" },
        object: { key: "r/1.txt", size: 4, etag: createHash("md5").update("paid").digest("hex") },
        reason: "PutObject",
      },
    });
    // Only the matching key was notified.
    const info = await (await jetstreamManager(nc)).streams.info(bus.stream);
    expect(info.state.messages).toBe(1);
    s3.destroy();
  });

  test("§loops/7 PutObject: a write's signed x-nimbus-chain travels as the event's Nimbus-Chain header; an unsigned one is ignored", async () => {
    // The deployed host's transport, as a function's bucket binding writes.
    const transport = s3Transport({
      endpoint: service.url,
      region: "us-east-1",
      credentials: limited,
      bucket: receipts,
    });
    await transport.put("r/chained.txt", new TextEncoder().encode("x"), { chain: { id: "c9", depth: 5 } });
    transport.destroy();
    // The same header added after the request was signed.
    const s3 = client(service.url, limited);
    const afterSigning = (next: (args: unknown) => Promise<unknown>) => async (args: unknown) => {
      (args as { request: { headers: Record<string, string> } }).request.headers["x-nimbus-chain"] = "forged;15";
      return next(args);
    };
    type Middleware = Parameters<typeof s3.middlewareStack.addRelativeTo>[0];
    s3.middlewareStack.addRelativeTo(afterSigning as unknown as Middleware, {
      relation: "after",
      toMiddleware: "httpSigningMiddleware",
      name: "unsignedChain",
    });
    await s3.send(new PutObjectCommand({ Bucket: receipts, Key: "r/unsigned.txt", Body: "y" }));
    s3.destroy();
    const chains = new Map<string, string | undefined>();
    const consumer = await jetstream(nc).consumers.get(bus.stream);
    while (chains.size < 2) {
      const message = await consumer.next({ expires: 20_000 });
      expect(message).not.toBeNull();
      const key = message!.json<{ detail: { object: { key: string } } }>().detail.object.key;
      if (key === "r/chained.txt" || key === "r/unsigned.txt") chains.set(key, message!.headers?.get("Nimbus-Chain"));
    }
    expect(chains.get("r/chained.txt")).toBe("c9;5");
    expect(chains.get("r/unsigned.txt") || undefined).toBeUndefined();
  });

  test("§notifications/7 PutObject: a change the bus refuses is logged naming bucket, key and bus, and dropped; the changes after it are published", async () => {
    const s3 = client(service.url, limited);
    await s3.send(new PutObjectCommand({ Bucket: guarded, Key: "refused.txt", Body: "no" }));
    await s3.send(new DeleteObjectCommand({ Bucket: guarded, Key: "refused.txt" }));
    const consumer = await jetstream(nc).consumers.get(strictBus.stream);
    const message = await consumer.next({ expires: 20_000 });
    // The deletion, published after the refused creation: the creation is not first, nor retried.
    expect(message?.json()).toMatchObject({
      "detail-type": "Object Deleted",
      detail: { bucket: { name: "guarded" }, object: { key: "refused.txt" }, reason: "DeleteObject" },
    });
    expect(await logged(service, (line) => line.message.includes('"refused.txt"'))).toEqual({
      level: "error",
      message: expect.stringMatching(
        /^bucket guarded: the event for "refused\.txt" could not be put on bus strict, so it was dropped: bus "strict": entry 1 has detailType "Object Created", which the bus's schema does not name/,
      ),
    });
    const info = await (await jetstreamManager(nc)).streams.info(strictBus.stream);
    expect(info.state.messages).toBe(1);
    s3.destroy();
  });
});
