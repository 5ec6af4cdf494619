import { type BucketEventDetail, type BucketNotificationSpec, bucketEventSource, type PutEntry } from "@nimbus/core";
import type { BucketEntry } from "./plugin.ts";
import type { BucketChange, BucketStore } from "./store.ts";

/** Most entries in one put, as EventBridge's PutEvents takes them. */
const maxEntriesPerPut = 10;
/** Changes read from the outbox at a time. */
const pageSize = 100;

export interface BucketNotifierOptions {
  /** Puts entries (at most 10) on a bus; throws when the bus refuses them. */
  put: (bus: string, entries: PutEntry<BucketEventDetail>[]) => Promise<unknown>;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

/**
 * Turns the changes in a bucket's outbox into events on the buses its notifications name.
 * At least once: the events are put first, then the changes dropped, so a crash between
 * the two puts them again. One drain per bucket runs at a time, in commit order.
 */
export class BucketNotifier {
  readonly #put: BucketNotifierOptions["put"];
  readonly #log: BucketNotifierOptions["log"];
  /** The drain running for each bucket's store; a request meanwhile joins it. */
  readonly #running = new Map<BucketStore, Promise<void>>();

  constructor(options: BucketNotifierOptions) {
    this.#put = options.put;
    this.#log = options.log;
  }

  /** Notifies the bucket's recorded changes; resolves when every change recorded before the call is handled. Never rejects. */
  drain(entry: BucketEntry): Promise<void> {
    const running = this.#running.get(entry.store);
    if (running) return running;
    // Registered before the run starts: a run that finds the outbox empty ends, and
    // unregisters, before it first awaits.
    const done = Promise.withResolvers<void>();
    this.#running.set(entry.store, done.promise);
    void this.#run(entry).then(done.resolve);
    return done.promise;
  }

  async #run(entry: BucketEntry): Promise<void> {
    const store = entry.store;
    try {
      // Pages are read until one comes back empty, and nothing is awaited between that
      // read and the end: a request that joined the run is covered by a read after it,
      // which is the run going round again for it.
      for (;;) {
        const changes = store.changes(pageSize);
        const last = changes.at(-1);
        if (!last) break;
        // Read at each page, so a reload's new notifications apply from the next change on.
        await this.#notify(entry.name, entry.spec?.notifications ?? [], changes);
        store.dropChanges(last.id);
      }
    } catch (error) {
      this.#log(
        "error",
        `bucket ${entry.name}: reading its changes to notify failed; they are notified after its next change or a restart: ${(error as Error).message}`,
      );
    } finally {
      this.#running.delete(store);
    }
  }

  async #notify(
    bucket: string,
    notifications: readonly BucketNotificationSpec[],
    changes: readonly BucketChange[],
  ): Promise<void> {
    const byBus = new Map<string, { change: BucketChange; entry: PutEntry<BucketEventDetail> }[]>();
    for (const change of changes) {
      for (const notification of notifications) {
        if (!matches(notification, change)) continue;
        const list = byBus.get(notification.bus) ?? [];
        byBus.set(notification.bus, list);
        list.push({ change, entry: toEntry(bucket, change) });
      }
    }
    for (const [bus, items] of byBus) {
      for (let start = 0; start < items.length; start += maxEntriesPerPut) {
        const batch = items.slice(start, start + maxEntriesPerPut);
        try {
          await this.#put(
            bus,
            batch.map((item) => item.entry),
          );
        } catch (error) {
          // A bus that refuses an event (its schema, or the bus is gone) refuses it again on
          // every try: the event is dropped rather than blocking the changes after it.
          const keys = [...new Set(batch.map((item) => JSON.stringify(item.change.key)))].join(", ");
          this.#log(
            "error",
            `bucket ${bucket}: the event${batch.length > 1 ? "s" : ""} for ${keys} could not be put on bus ${bus}, so ${batch.length > 1 ? "they were" : "it was"} dropped: ${(error as Error).message}`,
          );
        }
      }
    }
  }
}

function matches(notification: BucketNotificationSpec, change: BucketChange): boolean {
  return (
    notification.events.includes(change.event) &&
    change.key.startsWith(notification.prefix) &&
    change.key.endsWith(notification.suffix)
  );
}

function toEntry(bucket: string, change: BucketChange): PutEntry<BucketEventDetail> {
  return {
    source: bucketEventSource,
    detailType: change.event === "created" ? "Object Created" : "Object Deleted",
    detail: {
      bucket: { name: bucket },
      object: { key: change.key, size: change.size, etag: change.etag },
      reason: change.reason,
    },
    resources: [bucket],
    time: new Date(change.time).toISOString(),
  };
}
