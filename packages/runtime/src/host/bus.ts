/**
 * Putting events on a bus on NATS JetStream. Each bus has a stream (core's `busNames`:
 * `bus-<bus>`, subject `nimbus.b.<stream>.events`), created by the provisioner before
 * any host starts, one JetStream message per event (an event is at most 256 KiB; ten in
 * one message would not fit NATS's payload limit). The control role's router reads the
 * stream and hands each event to its rules' targets.
 *
 * A put checks its entries here, on the client's side, with core's checks (the host has
 * no server in between), then publishes the events in entry order with each event's id
 * as `Nats-Msg-Id`, so a publish repeated after a lost reply is dropped by the stream's
 * duplicate window. Not all or none on this target: a put whose publish fails after
 * some events were stored leaves those stored (documented deviation; the entries'
 * checks, which refuse a put as a whole, all run before the first publish). The checks
 * need zod, which would otherwise be a fifth of a host's memory at rest, so they are
 * loaded by the first put.
 *
 * A put made inside an invocation carries its chain as the `Nimbus-Chain` header of each
 * event's message (docs/semantics.md "Recursive loops"), which the router copies onto
 * every delivery it stores.
 */

import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import { type BusSpec, busNames, formatChain, NimbusError, toEvent } from "@nimbus/core";
import type { BusTransport } from "../bus.ts";
import { header } from "./queue-headers.ts";

/** Publishes of one event before the put gives up. */
const publishAttempts = 3;

/** The transport of a `busClient` for bus `bus` (with its spec, for the schema) over `nc`. */
export function jetStreamBusTransport(
  nc: NatsConnection,
  bus: string,
  spec: Pick<BusSpec, "schema">,
  prefix?: string,
): BusTransport {
  const js = jetstream(nc);
  const { subject } = busNames(bus, prefix ? { prefix } : {});
  const checks = lazy(async () => {
    const { detailCheck, readEntries } = await import("@nimbus/core/bus-entries");
    const check = detailCheck(bus, spec.schema);
    return (entries: unknown) => readEntries(bus, entries, check);
  });
  return {
    async put(entries, chain) {
      const events = (await checks())(entries).map((entry) => toEvent(entry));
      const carried = chain ? formatChain(chain) : undefined;
      for (const [index, event] of events.entries()) {
        const data = JSON.stringify(event);
        for (let attempt = 1; ; attempt++) {
          try {
            // Headers of its own per publish: the client adds `Nats-Msg-Id` to them.
            const headers = carried === undefined ? undefined : natsHeaders();
            headers?.set(header.chain, carried!);
            await js.publish(subject, data, { msgID: event.id, headers });
            break;
          } catch (error) {
            if (attempt < publishAttempts) continue;
            throw new NimbusError(
              "NIMBUS_BUS_PUT",
              `bus "${bus}": entry ${index + 1} could not be stored (${(error as Error).message})${index > 0 ? `; the ${index} entr${index === 1 ? "y" : "ies"} before it were` : ""}. Put the remaining entries again.`,
              { kind: "system", cause: error },
            );
          }
        }
      }
      return events.map((event) => event.id);
    },
  };
}

/** `load`'s result, loaded by the first call; a failed load is tried again by the next. */
function lazy<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    loading ??= load().catch((error) => {
      loading = undefined;
      throw error;
    });
    return loading;
  };
}
