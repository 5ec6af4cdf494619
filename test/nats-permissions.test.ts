// Least privilege on the deployed runtime, proved against nats-server itself (not the
// binding): the configuration core renders from the graph gives each function a user
// that reaches only its own queues, buses and deliveries.
import { randomBytes } from "node:crypto";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  busNames,
  deliveryNames,
  deliveryRoute,
  type NatsUser,
  natsPermissions,
  queueNames,
  renderNatsConfig,
} from "@nimbus/core";
import { provisionNats } from "@nimbus/runtime/host";
import { type NatsServer, natsServerMissing, startNatsServer } from "@nimbus/runtime/host/testing";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import app from "./fixtures/least-privilege/nimbus.app.ts";

const missing = natsServerMissing();
if (missing) console.warn(`least privilege on nats-server skipped: ${missing}`);
const graph = app.toGraph();
const users = natsPermissions(graph);
// The admin's password holds what the configuration must quote: it still logs in.
const passwords: Record<string, string> = {};
for (const user of [...Object.values(users.functions), users.control])
  passwords[user.user] = randomBytes(24).toString("base64url");
passwords[users.admin.user] = `q"\\$x#{}:${randomBytes(12).toString("base64url")}`;

const jobs = queueNames("jobs");
const other = queueNames("other");
const parked = queueNames("parked");
const orders = busNames("orders");
const paidToB = deliveryNames(deliveryRoute("orders/paid", { kind: "function", name: "b" }).key);

let server: NatsServer;
const open: NatsConnection[] = [];

async function as(user: NatsUser): Promise<NatsConnection> {
  const nc = await connect({
    servers: server.url,
    user: user.user,
    pass: passwords[user.user]!,
    inboxPrefix: user.inboxPrefix,
  });
  open.push(nc);
  return nc;
}

/** The admin's view, to check what the server stored. */
const admin = async () => jetstreamManager(await as(users.admin));

describe.skipIf(missing !== undefined)("least privilege on nats-server", () => {
  beforeAll(async () => {
    server = await startNatsServer({
      config: ({ listen, storeDir }) => renderNatsConfig(users, { app: graph.app, passwords, listen, storeDir }),
    });
    const nc = await as(users.admin);
    await provisionNats(nc, graph);
  });

  afterAll(async () => {
    await Promise.all(open.map((nc) => nc.close()));
    await server?.stop();
  });

  test("provisionNats: creates every stream and durable once; a second run changes nothing", async () => {
    const nc = await as(users.admin);
    const again = await provisionNats(nc, graph);
    const jsm = await jetstreamManager(nc);
    expect(again.streams).toMatchObject({
      [jobs.stream]: ["consumer", "delays"],
      [parked.stream]: ["delays"],
      [orders.stream]: ["router"],
      [paidToB.stream]: ["consumer", "delays"],
    });
    const streams: string[] = [];
    for await (const info of jsm.streams.list()) streams.push(info.config.name);
    expect(streams.sort()).toEqual(Object.keys(again.streams).sort());
  });

  test("function user: sends to and consumes its own queue with the real client", async () => {
    const nc = await as(users.functions.a!);
    const js = jetstream(nc);
    const ack = await js.publish(jobs.ready, JSON.stringify({ hello: "a" }));
    expect(ack.stream).toBe(jobs.stream);
    const consumer = await js.consumers.get(jobs.stream, jobs.consumer);
    const message = await consumer.next({ expires: 5_000 });
    expect(message?.json()).toEqual({ hello: "a" });
    expect(await message!.ackAck()).toBe(true);
    const jsm = await admin();
    expect((await jsm.streams.info(jobs.stream)).state.messages).toBe(0);
  });

  test("function user: publishing to a queue it does not link is refused by the server, and nothing is stored", async () => {
    const js = jetstream(await as(users.functions.a!));
    await expect(js.publish(other.ready, "not yours")).rejects.toThrow(/permissions violation/i);
    await expect(js.publish(parked.ready, "not yours")).rejects.toThrow(/permissions violation/i);
    const jsm = await admin();
    expect((await jsm.streams.info(other.stream)).state.messages).toBe(0);
    expect((await jsm.streams.info(parked.stream)).state.messages).toBe(0);
  });

  test("function user: pulling from another function's consumer is refused, and its message stays undelivered", async () => {
    const adminNc = await as(users.admin);
    await jetstream(adminNc).publish(other.ready, "for b");
    const jsm = await jetstreamManager(adminNc);
    const nc = await as(users.functions.a!);
    await expect(
      nc.request(
        `$JS.API.CONSUMER.MSG.NEXT.${other.stream}.${other.consumer}`,
        JSON.stringify({ batch: 1, expires: 1e9 }),
        {
          timeout: 3_000,
        },
      ),
    ).rejects.toThrow(/permissions violation/i);
    await expect(jetstream(nc).consumers.get(other.stream, other.consumer)).rejects.toThrow(/permissions violation/i);
    const info = await jsm.consumers.info(other.stream, other.consumer);
    expect(info.delivered.consumer_seq).toBe(0);
    expect(info.num_pending).toBe(1);
  });

  test("function user: creating a stream or deleting a consumer is refused", async () => {
    const jsm = await jetstreamManager(await as(users.functions.a!));
    await expect(jsm.streams.add({ name: "mine", subjects: ["mine.>"] })).rejects.toThrow(/permissions violation/i);
    await expect(jsm.consumers.delete(jobs.stream, jobs.consumer)).rejects.toThrow(/permissions violation/i);
    const check = await admin();
    await expect(check.streams.info("mine")).rejects.toThrow(/stream not found/i);
    expect((await check.consumers.info(jobs.stream, jobs.consumer)).name).toBe(jobs.consumer);
  });

  test("function user: subscribing to another user's inbox is refused", async () => {
    const nc = await as(users.functions.a!);
    const sub = nc.subscribe(`${users.functions.b!.inboxPrefix}.>`);
    // The server refuses the subscription before it answers the flush's PING; a refused subscription is closed with the error.
    await nc.flush();
    const closed = await Promise.race([sub.closed, Promise.resolve("still open")]);
    expect(String(closed)).toMatch(/permissions violation for subscription/i);
  });

  test("control user: routes a bus event into a function's delivery queue and a targeted queue, and nowhere else", async () => {
    // `a` links `orders`, so its put is stored.
    await jetstream(await as(users.functions.a!)).publish(orders.subject, JSON.stringify({ source: "shop" }));
    const control = await as(users.control);
    const js = jetstream(control);
    const router = await js.consumers.get(orders.stream, orders.router);
    const event = await router.next({ expires: 5_000 });
    expect(event?.json()).toEqual({ source: "shop" });
    await js.publish(paidToB.ready, event!.data);
    await js.publish(parked.ready, event!.data);
    expect(await event!.ackAck()).toBe(true);
    await expect(js.publish(jobs.ready, event!.data)).rejects.toThrow(/permissions violation/i);
    // `b` takes the delivery from its own delivery queue; `a` may not.
    await expect(
      jetstream(await as(users.functions.a!)).consumers.get(paidToB.stream, paidToB.consumer),
    ).rejects.toThrow(/permissions violation/i);
    const delivery = await (
      await jetstream(await as(users.functions.b!)).consumers.get(paidToB.stream, paidToB.consumer)
    ).next({
      expires: 5_000,
    });
    expect(delivery?.json()).toEqual({ source: "shop" });
    expect(await delivery!.ackAck()).toBe(true);
    const jsm = await admin();
    expect((await jsm.streams.info(parked.stream)).state.messages).toBe(1);
    expect((await jsm.streams.info(jobs.stream)).state.messages).toBe(0);
  });

  test("control user: reads and deletes by sequence the messages of a queue nobody consumes, and of no other (§queues/retention/2)", async () => {
    const js = jetstream(await as(users.admin));
    const stored = await js.publish(parked.ready, JSON.stringify({ sweep: true }));
    const consumed = await js.publish(jobs.ready, JSON.stringify({ sweep: false }));
    const jsm = await jetstreamManager(await as(users.control));
    // What the retention sweep does: stream info, message gets by `next_by_subj`, deletes.
    expect((await jsm.streams.info(parked.stream)).state.last_seq).toBe(stored.seq);
    const next = { next_by_subj: parked.subjects, seq: stored.seq } as unknown as { seq: number };
    expect((await jsm.streams.getMessage(parked.stream, next))?.json()).toEqual({ sweep: true });
    expect(await jsm.streams.deleteMessage(parked.stream, stored.seq, false)).toBe(true);
    await expect(jsm.streams.getMessage(jobs.stream, { seq: consumed.seq })).rejects.toThrow(/permissions violation/i);
    await expect(jsm.streams.deleteMessage(jobs.stream, consumed.seq, false)).rejects.toThrow(/permissions violation/i);
    await expect(jsm.streams.purge(parked.stream)).rejects.toThrow(/permissions violation/i);
    const adminJsm = await admin();
    expect((await adminJsm.streams.getMessage(jobs.stream, { seq: consumed.seq }))?.json()).toEqual({ sweep: false });
    await adminJsm.streams.deleteMessage(jobs.stream, consumed.seq);
  });

  test("renderNatsConfig: a wrong password, or no user at all, is refused", async () => {
    await expect(connect({ servers: server.url, user: users.functions.a!.user, pass: "wrong" })).rejects.toThrow(
      /authorization/i,
    );
    await expect(connect({ servers: server.url })).rejects.toThrow(/authorization/i);
  });
});
