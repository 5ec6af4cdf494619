// Bucket notifications with any S3 endpoint (NIMBUS_S3_NOTIFY=bindings): a function host
// whose bucket is on s3rver, an S3 implementation independent of the Nimbus store,
// publishes the events of the writes its bindings make; the control host routes them by
// a rule into a queue. A write made to s3rver directly, past the bindings, notifies
// nothing: the documented limit of this mode (docs/deployed-runtime.md).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeleteObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { AckPolicy, type Consumer, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { App, type BucketEvents, physicalName, queueNames } from "@nimbus/core";
import { provisionNats } from "@nimbus/runtime/host";
import { type NatsServer, natsServerMissing, startNatsServer } from "@nimbus/runtime/host/testing";
import S3rver from "s3rver";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { HostProcess } from "./conformance/drivers/processes/host-process.ts";

const missing = natsServerMissing();
if (missing) console.warn(`host any-S3 tests skipped: ${missing}`);

const prefix = `anys3-${process.pid}`;

const handlerSource = `
export default {
  async fetch(request, env) {
    const key = new URL(request.url).pathname.slice("/files/".length);
    if (request.method === "PUT") {
      const info = await env.files.put(key, await request.text());
      return Response.json(info);
    }
    if (request.method === "DELETE") {
      await env.files.delete(key);
      return new Response(null, { status: 204 });
    }
    return new Response("no such route", { status: 404 });
  },
};
`;

function graph() {
  const app = new App("anys3");
  const files = app.bucket("files");
  const events = app.bus<BucketEvents>("file-events");
  files.notify(events);
  const inbox = app.queue("inbox");
  events.rule("to-inbox", { pattern: { source: ["nimbus.bucket"] }, targets: [inbox] });
  app.function("api", { handler: "./src/api.ts", routes: ["ANY /files/*"], link: { files } });
  return app.toGraph();
}

interface Delivered {
  "detail-type": string;
  detail: { bucket: { name: string }; object: { key: string; size: number; etag: string }; reason: string };
}

describe.skipIf(missing !== undefined)("any S3 endpoint: notifications from the bindings", () => {
  let dir: string;
  let nats: NatsServer;
  let nc: NatsConnection;
  let s3rver: S3rver;
  let s3: S3Client;
  let inbox: Consumer;
  const hosts: HostProcess[] = [];
  const bucket = physicalName("files", "s3", { prefix });

  /** The next event the rule stored in the inbox queue. */
  const next = async (): Promise<Delivered> => {
    const message = await inbox.next({ expires: 15_000 });
    if (!message) throw new Error("no event reached the inbox queue within 15 s");
    message.ack();
    return findEvent(message.json());
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "nimbus-any-s3-"));
    // Imports nothing: the module is its own bundle.
    await writeFile(join(dir, "api.mjs"), handlerSource);
    s3rver = new S3rver({
      port: 0,
      address: "127.0.0.1",
      silent: true,
      directory: join(dir, "s3rver"),
      configureBuckets: [{ name: bucket, configs: [] }],
    });
    const { port } = await s3rver.run();
    const endpoint = `http://127.0.0.1:${port}`;
    s3 = new S3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      // s3rver's fixed credentials.
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    });

    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
    await provisionNats(nc, graph(), { prefix });
    // A reader of the queue's deliverable messages: no function consumes the queue.
    const names = queueNames("inbox", { prefix });
    await (await jetstreamManager(nc)).consumers.add(names.stream, {
      durable_name: "test-reader",
      ack_policy: AckPolicy.Explicit,
      filter_subject: names.readyFilter,
    });
    inbox = await jetstream(nc).consumers.get(names.stream, "test-reader");

    const common = {
      NIMBUS_GRAPH: JSON.stringify(graph()),
      NIMBUS_NATS_URL: nats.url,
      NIMBUS_PREFIX: prefix,
    };
    hosts.push(await HostProcess.start("control", { ...common, NIMBUS_ROLE: "control" }));
    hosts.push(
      await HostProcess.start("api", {
        ...common,
        NIMBUS_ROLE: "function",
        NIMBUS_FUNCTION: "api",
        NIMBUS_HANDLER: join(dir, "api.mjs"),
        NIMBUS_S3_ENDPOINT: endpoint,
        NIMBUS_S3_ACCESS_KEY_ID: "S3RVER",
        NIMBUS_S3_SECRET_ACCESS_KEY: "S3RVER",
        NIMBUS_S3_NOTIFY: "bindings",
      }),
    );
  }, 60_000);

  afterAll(async () => {
    for (const host of hosts) await host.stop();
    s3?.destroy();
    await nc?.close();
    await nats?.stop();
    await s3rver?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const api = () => hosts[1]!.url;

  test("put: a write through the binding puts an Object Created event on the bus, which the rule delivers", async () => {
    const response = await fetch(`${api()}/files/a.txt`, { method: "PUT", body: "hello" });
    expect(response.status).toBe(200);
    const info = (await response.json()) as { etag: string; size: number };
    const event = await next();
    expect(event["detail-type"]).toBe("Object Created");
    expect(event.detail).toEqual({
      bucket: { name: "files" },
      object: { key: "a.txt", size: 5, etag: info.etag },
      reason: "PutObject",
    });
  });

  test("delete: a delete through the binding puts an Object Deleted event with the deleted object's size and ETag", async () => {
    const put = await fetch(`${api()}/files/b.txt`, { method: "PUT", body: "to be deleted" });
    const info = (await put.json()) as { etag: string };
    expect((await next()).detail.object.key).toBe("b.txt");
    expect((await fetch(`${api()}/files/b.txt`, { method: "DELETE" })).status).toBe(204);
    const event = await next();
    expect(event["detail-type"]).toBe("Object Deleted");
    expect(event.detail).toEqual({
      bucket: { name: "files" },
      object: { key: "b.txt", size: 13, etag: info.etag },
      reason: "DeleteObject",
    });
  });

  test("put: a write made to the endpoint directly, past the bindings, does not notify (documented limit)", async () => {
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: "direct.txt", Body: "not through the binding" }));
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: "direct.txt" }));
    // A write through the binding after them: its event is the next one, so theirs were never published.
    await fetch(`${api()}/files/marker.txt`, { method: "PUT", body: "marker" });
    expect((await next()).detail.object.key).toBe("marker.txt");
  });
});

/** The event in a queue message, whatever envelope the router stores it in. */
function findEvent(value: unknown): Delivered {
  if (typeof value === "object" && value !== null) {
    if ("detail-type" in value) return value as Delivered;
    for (const inner of Object.values(value)) {
      try {
        return findEvent(typeof inner === "string" ? JSON.parse(inner) : inner);
      } catch {}
    }
  }
  throw new Error(`no event in the queue message ${JSON.stringify(value)}`);
}
