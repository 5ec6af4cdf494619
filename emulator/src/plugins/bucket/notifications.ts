import {
  type BucketEventDetail,
  type BucketNotificationSpec,
  type Chain,
  changeEvents,
  formatChain,
  NimbusError,
  notificationLimits,
  type PutEntry,
} from "@nimbus/core";
import type { BucketChange, BucketEntry, BucketStore } from "@nimbus/store";

/** Most entries in one put: the bus's limit. */
const maxEntriesPerPut = notificationLimits.maxEntriesPerPut;
/** Changes read from the outbox at a time. */
const pageSize = 100;

export interface BucketNotifierOptions {
  /**
   * Puts entries (at most 10) on a bus; throws when the bus refuses them. `chain`: that of
   * the invocation whose writes made the changes, absent for writes from outside one.
   */
  put: (bus: string, entries: PutEntry<BucketEventDetail>[], chain: Chain | undefined) => Promise<unknown>;
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
      // Not a refusal (the bus is not there yet during a reload, the emulator is closing):
      // the changes stay recorded and go with the next drain.
      this.#log(
        "warn",
        `bucket ${entry.name}: its changes could not be notified now; they will be after its next change or a restart: ${(error as Error).message}`,
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
      for (const { bus, entry } of changeEvents(bucket, notifications, change)) {
        const list = byBus.get(bus) ?? [];
        byBus.set(bus, list);
        list.push({ change, entry });
      }
    }
    for (const [bus, items] of byBus) {
      for (const batch of puts(items)) {
        try {
          await this.#put(
            bus,
            batch.map((item) => item.entry),
            batch[0]!.change.chain,
          );
        } catch (error) {
          if (!isRefusal(error)) throw error;
          // A put is all or none: put them one by one, so only the refused ones are dropped.
          for (const item of batch) await this.#putOrDrop(bucket, bus, item);
        }
      }
    }
  }

  /** Puts one change's event; one the bus refuses would be refused on every try, so it is dropped. */
  async #putOrDrop(bucket: string, bus: string, item: { change: BucketChange; entry: PutEntry<BucketEventDetail> }) {
    try {
      await this.#put(bus, [item.entry], item.change.chain);
    } catch (error) {
      if (!isRefusal(error)) throw error;
      this.#log(
        "error",
        `bucket ${bucket}: the event for ${JSON.stringify(item.change.key)} could not be put on bus ${bus}, so it was dropped: ${(error as Error).message}`,
      );
    }
  }
}

/**
 * A bus's changes cut into puts, in commit order: at most the bus's limit each, and each of
 * changes of one chain, since a put carries one.
 */
function puts<T extends { change: BucketChange }>(items: readonly T[]): T[][] {
  const batches: T[][] = [];
  let key: string | undefined;
  for (const item of items) {
    const chain = item.change.chain ? formatChain(item.change.chain) : "";
    const last = batches.at(-1);
    if (!last || last.length >= maxEntriesPerPut || chain !== key) batches.push([item]);
    else last.push(item);
    key = chain;
  }
  return batches;
}

/** The bus refused the entries themselves (its schema, their size), rather than failing to take them now. */
function isRefusal(error: unknown): boolean {
  return NimbusError.is(error) && refusals.has(error.code);
}
const refusals = new Set(["NIMBUS_BUS_SCHEMA", "NIMBUS_BUS_ENTRY", "NIMBUS_BUS_ENTRY_TOO_LARGE"]);
