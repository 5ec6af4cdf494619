/**
 * Bucket notifications published by the bindings (`NIMBUS_S3_NOTIFY=bindings`), for a
 * bucket on any S3 endpoint (AWS S3, R2, MinIO, Ceph, SeaweedFS), which has no outbox of
 * Nimbus's to relay from. After a put or delete through the binding succeeded, the host
 * publishes the events the bucket's `notify(...)`s make of that change (core's
 * `changeEvents`, the rule every target follows) to the buses' streams, with the
 * invocation's chain as the `Nimbus-Chain` header, as the store's relay does.
 *
 * Limits, documented in docs/deployed-runtime.md: a write that bypasses the bindings
 * (the aws CLI, another tool, a presigned URL) notifies nothing; a crash between the
 * write and the publish loses the event (there is no outbox), and a publish that fails
 * after the write makes the put or delete reject with `NIMBUS_BUS_PUT` although the
 * object was written. A delete heads each key first, since the event carries the deleted
 * object's size and ETag: a write by someone else between the head and the delete makes
 * the event name the object the head saw, and a key created in between is deleted
 * without an event.
 */

import { jetstream } from "@nats-io/jetstream";
import { type NatsConnection, headers as natsHeaders } from "@nats-io/transport-node";
import {
  type BucketChangeFacts,
  type BucketSpec,
  type BusSpec,
  busNames,
  type Chain,
  changeEvents,
  formatChain,
  NimbusError,
  toEvent,
} from "@nimbus/core";
import { type DetailCheck, detailCheck, readEntries } from "@nimbus/core/bus-entries";
import type { BucketRecord, BucketTransport } from "../bucket.ts";
import { header } from "./queue-headers.ts";

/** Publishes of one event before the write reports it as not notified. */
const publishAttempts = 3;
/** Heads run at a time before a delete of many keys. */
const headConcurrency = 8;

export interface NotifyingTransportOptions {
  nc: NatsConnection;
  /** The bucket's name in the app: the name its events carry. */
  bucket: string;
  spec: BucketSpec;
  /** The schemas of the buses it notifies, by bus name, for the checks a put on the bus runs. */
  buses: ReadonlyMap<string, Pick<BusSpec, "schema">>;
  prefix?: string;
  log: (level: "error", message: string) => void;
}

/** `transport`, publishing the notifications of each successful put and delete itself. */
export function notifyingTransport<T extends BucketTransport>(transport: T, options: NotifyingTransportOptions): T {
  const { bucket, spec, log } = options;
  if (spec.notifications.length === 0) return transport;
  const js = jetstream(options.nc);
  const checks = new Map<string, DetailCheck>();
  const checkOf = (bus: string): DetailCheck => {
    let check = checks.get(bus);
    if (!check) {
      check = detailCheck(bus, options.buses.get(bus)?.schema ?? null);
      checks.set(bus, check);
    }
    return check;
  };

  const publish = async (change: BucketChangeFacts, chain: Chain | undefined): Promise<void> => {
    const carried = chain ? formatChain(chain) : undefined;
    for (const { bus, index, entry } of changeEvents(bucket, spec.notifications, change)) {
      try {
        readEntries(bus, [entry], checkOf(bus));
      } catch (error) {
        if (!NimbusError.is(error)) throw error;
        // Refused on every try: dropped and logged, as the store's relay does (docs/semantics.md §notifications/7).
        log(
          "error",
          `bucket ${bucket}: the event for ${JSON.stringify(change.key)} could not be put on bus ${bus}, so it was dropped: ${error.message}`,
        );
        continue;
      }
      const msgID = `${bucket}:${change.key}:${change.event === "created" ? change.etag : "delete"}:${index}:${change.time}`;
      const data = JSON.stringify(toEvent(entry));
      const subject = busNames(bus, options.prefix ? { prefix: options.prefix } : {}).subject;
      for (let attempt = 1; ; attempt++) {
        try {
          // Headers of their own per publish: the client adds `Nats-Msg-Id` to them.
          const headers = carried === undefined ? undefined : natsHeaders();
          headers?.set(header.chain, carried!);
          await js.publish(subject, data, { msgID, headers });
          break;
        } catch (error) {
          if (attempt < publishAttempts) continue;
          throw new NimbusError(
            "NIMBUS_BUS_PUT",
            `bucket "${bucket}": ${JSON.stringify(change.key)} was ${change.event === "created" ? "written" : "deleted"}, but its event could not be put on bus "${bus}" (${(error as Error).message}), so that bus was not notified. Make the change again to notify it.`,
            { kind: "system", cause: error },
          );
        }
      }
    }
  };

  const notifiesDeletes = spec.notifications.some((notification) => notification.events.includes("deleted"));
  const heads = async (keys: string[]): Promise<(BucketRecord | null)[]> => {
    const records: (BucketRecord | null)[] = new Array(keys.length).fill(null);
    let next = 0;
    const worker = async () => {
      while (next < keys.length) {
        const at = next++;
        records[at] = await transport.head(keys[at]!);
      }
    };
    await Promise.all(Array.from({ length: Math.min(headConcurrency, keys.length) }, worker));
    return records;
  };

  return {
    ...transport,
    async put(key, body, putOptions) {
      const record = await transport.put(key, body, putOptions);
      await publish(
        { event: "created", reason: "PutObject", key, size: record.size, etag: record.etag, time: Date.now() },
        putOptions.chain,
      );
      return record;
    },
    async delete(keys, chain) {
      // Only the keys a notification could match are headed: the rest need no size or ETag.
      const matching = notifiesDeletes
        ? keys.filter((key) => changeEvents(bucket, spec.notifications, deletion(key, 0, "", 0)).length > 0)
        : [];
      const before = matching.length > 0 ? await heads(matching) : [];
      await transport.delete(keys, chain);
      const time = Date.now();
      for (const record of before) {
        // A key that held no object is not a change.
        if (record) await publish(deletion(record.key, record.size, record.etag, time), chain);
      }
    },
  };
}

function deletion(key: string, size: number, etag: string, time: number): BucketChangeFacts {
  return { event: "deleted", reason: "DeleteObject", key, size, etag, time };
}
