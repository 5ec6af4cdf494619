import { createHash } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { headers as natsHeaders } from "@nats-io/transport-node";
import { changeEvents, formatChain, NimbusError, type PutEntry, type StoreBucket, toEvent } from "@nimbus/core";
import { type DetailCheck, detailCheck, readEntries } from "@nimbus/core/bus-entries";
import type { BucketEntry } from "../registry.ts";
import type { BucketStore } from "../store.ts";

/** The header the function hosts' queue driver reads a chain from (runtime's host/queue-headers.ts). */
const chainHeader = "Nimbus-Chain";
/** Changes read from an outbox at a time. */
const pageSize = 100;
/** Wait before a failed relay tries again; doubled up to `maxBackoffMs`. */
const firstBackoffMs = 250;
const maxBackoffMs = 10_000;

export interface NotificationRelayOptions {
  /** The app's buckets by store name: their names in the app and their notifications. */
  buckets: ReadonlyMap<string, StoreBucket>;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

/**
 * Publishes the changes in the buckets' outboxes to the buses' streams on NATS
 * JetStream, one message per event, in commit order. At least once: a change leaves the
 * outbox only after JetStream acknowledged every event of it, so a crash in between
 * publishes it again; each message carries a `Nats-Msg-Id` made of the bucket, its
 * creation time and the change's id, so the stream drops a repeat within its duplicate
 * window. The event's id is derived from the same, so a repeat past the window still
 * carries the same id. A change made by an invocation's write carries its chain as the
 * message's `Nimbus-Chain` header (docs/semantics.md "Recursive loops"), which the bus
 * router copies onto the deliveries it stores.
 */
export class NotificationRelay {
  readonly #options: NotificationRelayOptions;
  #js: JetStreamClient | undefined;
  readonly #running = new Map<BucketStore, Promise<void>>();
  readonly #again = new Map<BucketStore, BucketEntry>();
  readonly #retries = new Map<BucketStore, { timer: NodeJS.Timeout; backoff: number }>();
  /** Each bus's detail check, built on first use. */
  readonly #checks = new Map<string, DetailCheck>();
  #stopped = false;

  constructor(options: NotificationRelayOptions) {
    this.#options = options;
  }

  /** Starts publishing through `js`; until then, changes wait in the outboxes. */
  connect(js: JetStreamClient): void {
    this.#js = js;
  }

  /** Publishes the bucket's recorded changes; one run per bucket at a time, a request meanwhile runs it again. */
  kick(entry: BucketEntry): void {
    if (this.#stopped || !this.#js || !this.#options.buckets.has(entry.name)) return;
    const store = entry.store;
    if (this.#running.has(store)) {
      this.#again.set(store, entry);
      return;
    }
    const run = this.#run(entry).finally(() => {
      this.#running.delete(store);
      const again = this.#again.get(store);
      this.#again.delete(store);
      if (again) this.kick(again);
    });
    this.#running.set(store, run);
  }

  /** Stops: no new runs or retries; resolves once the runs in flight end. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const retry of this.#retries.values()) clearTimeout(retry.timer);
    this.#retries.clear();
    await Promise.all(this.#running.values());
  }

  async #run(entry: BucketEntry): Promise<void> {
    const js = this.#js!;
    const bucket = this.#options.buckets.get(entry.name)!;
    const store = entry.store;
    try {
      const epoch = store.created;
      for (;;) {
        if (this.#stopped) return;
        const changes = store.changes(pageSize);
        const last = changes.at(-1);
        if (!last) break;
        for (const change of changes) {
          const chain = change.chain ? formatChain(change.chain) : undefined;
          for (const { index, entry: put } of changeEvents(bucket.bucket, bucket.notifications, change)) {
            if (!this.#accepts(bucket, index, change.key, put)) continue;
            const msgID = `${entry.name}:${epoch}:${change.id}:${index}`;
            const event = toEvent(put, { id: uuidOf(msgID) });
            // Headers of its own per publish: the client adds `Nats-Msg-Id` to them.
            const headers = chain === undefined ? undefined : natsHeaders();
            headers?.set(chainHeader, chain!);
            await js.publish(bucket.notifications[index]!.subject, JSON.stringify(event), { msgID, headers });
          }
        }
        store.dropChanges(last.id);
      }
      this.#retries.delete(store);
    } catch (error) {
      if (this.#stopped) return;
      const backoff = Math.min((this.#retries.get(store)?.backoff ?? firstBackoffMs / 2) * 2, maxBackoffMs);
      this.#options.log(
        "warn",
        `bucket ${entry.name}: its changes could not be published yet (${(error as Error).message}); trying again in ${backoff} ms`,
      );
      const timer = setTimeout(() => this.kick(entry), backoff);
      timer.unref();
      this.#retries.set(store, { timer, backoff });
    }
  }

  /**
   * Runs the checks a put on the bus runs (core's, as the emulator's bus does): an event
   * the bus refuses would be refused on every try, so it is logged and dropped, and the
   * change leaves the outbox with the rest of its page (docs/semantics.md §notifications/7).
   */
  #accepts(bucket: StoreBucket, index: number, key: string, put: PutEntry): boolean {
    const { bus, schema } = bucket.notifications[index]!;
    let check = this.#checks.get(bus);
    if (!check) {
      check = detailCheck(bus, schema);
      this.#checks.set(bus, check);
    }
    try {
      readEntries(bus, [put], check);
      return true;
    } catch (error) {
      if (!NimbusError.is(error)) throw error;
      this.#options.log(
        "error",
        `bucket ${bucket.bucket}: the event for ${JSON.stringify(key)} could not be put on bus ${bus}, so it was dropped: ${error.message}`,
      );
      return false;
    }
  }
}

/** A UUID-shaped id derived from `text`, so the same change's event always has the same id. */
function uuidOf(text: string): string {
  const hex = createHash("sha256").update(text).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((Number.parseInt(hex[16]!, 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
