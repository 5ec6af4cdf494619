import { jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { busNames, NimbusError } from "@nimbus/core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { jetStreamBusTransport } from "./bus.ts";
import { type NatsServer, natsServerMissing, startNatsServer } from "./testing/nats-server.ts";

const missing = natsServerMissing();
if (missing) console.warn(`host bus tests skipped: ${missing}`);

describe.skipIf(missing !== undefined)("host bus transport", () => {
  let nats: NatsServer;
  let nc: NatsConnection;

  beforeAll(async () => {
    nats = await startNatsServer();
    nc = await connect({ servers: nats.url });
  }, 30_000);
  afterAll(async () => {
    await nc?.close();
    await nats?.stop();
  });

  // As the provisioner makes it (provision.ts); the host never creates streams.
  const addStream = async (bus: string) => {
    const jsm = await jetstreamManager(nc);
    const { stream, subject } = busNames(bus);
    await jsm.streams.add({
      name: stream,
      subjects: [subject],
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
    });
  };

  const stored = async (bus: string) => {
    const jsm = await jetstreamManager(nc);
    const { stream } = busNames(bus);
    const { state } = await jsm.streams.info(stream);
    const events = [];
    for (let seq = state.first_seq; seq <= state.last_seq && state.messages > 0; seq++) {
      const message = await jsm.streams.getMessage(stream, { seq });
      events.push({
        msgId: message?.header.get("Nats-Msg-Id"),
        chain: message?.header.get("Nimbus-Chain") || undefined,
        event: message?.json<{ id: string; detail: unknown }>(),
      });
    }
    return events;
  };

  test("put: stores one event per entry in order, each with its id as the message id (semantics buses/putting/2)", async () => {
    await addStream("orders");
    const transport = jetStreamBusTransport(nc, "orders", { schema: null });
    const ids = await transport.put([
      { source: "shop", detailType: "OrderPaid", detail: { n: 1 } },
      { source: "shop", detailType: "OrderPaid", detail: { n: 2 } },
    ]);
    expect(ids).toHaveLength(2);
    const events = await stored("orders");
    expect(events.map(({ msgId, event }) => [msgId, event?.id, event?.detail])).toEqual([
      [ids[0], ids[0], { n: 1 }],
      [ids[1], ids[1], { n: 2 }],
    ]);
  });

  test("put: the putting invocation's chain goes with every event as its Nimbus-Chain header; a put outside one has none (§loops/7)", async () => {
    await addStream("chained");
    const transport = jetStreamBusTransport(nc, "chained", { schema: null });
    const entry = { source: "shop", detailType: "OrderPaid", detail: {} };
    await transport.put([entry, entry], { id: "c7", depth: 3 });
    await transport.put([entry]);
    expect((await stored("chained")).map(({ chain }) => chain)).toEqual(["c7;3", "c7;3", undefined]);
  });

  test("put: a bad entry refuses the whole put before anything is stored (semantics buses/putting/3, /4)", async () => {
    await addStream("checked");
    const transport = jetStreamBusTransport(nc, "checked", {
      schema: { OrderPaid: { type: "object", properties: { n: { type: "number" } }, required: ["n"] } },
    });
    const good = { source: "shop", detailType: "OrderPaid", detail: { n: 1 } };
    await expect(
      transport.put([good, { source: "shop", "detail-type": "OrderPaid", detail: {} } as never]),
    ).rejects.toThrow(
      expect.objectContaining({
        code: "NIMBUS_BUS_ENTRY",
        message: expect.stringContaining('bus "checked": entry 2 has a field "detail-type"'),
      }),
    );
    await expect(transport.put([{ ...good, detail: { n: "one" } }])).rejects.toThrow(
      expect.objectContaining({ code: "NIMBUS_BUS_SCHEMA" }),
    );
    const tooMany = Array.from({ length: 11 }, () => good);
    const refused = await transport.put(tooMany).catch((error: unknown) => error);
    expect(NimbusError.is(refused) && refused.code).toBe("NIMBUS_BUS_ENTRIES");
    expect(await stored("checked")).toEqual([]);
  });
});
