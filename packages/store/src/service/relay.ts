import { createHash } from "node:crypto";
import type { JetStreamClient } from "@nats-io/jetstream";
import { type StoreBucket, toEvent } from "@nimbus/core";
import { changeEvents } from "../notification-events.ts";
import type { BucketEntry } from "../registry.ts";
import type { BucketStore } from "../store.ts";

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
 * carries the same id.
 */
export class NotificationRelay {
  readonly #options: NotificationRelayOptions;
  #js: JetStreamClient | undefined;
  readonly #running = new Map<BucketStore, Promise<void>>();
  readonly #again = new Map<BucketStore, BucketEntry>();
  readonly #retries = new Map<BucketStore, { timer: NodeJS.Timeout; backoff: number }>();
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
          for (const { index, entry: put } of changeEvents(bucket.bucket, bucket.notifications, change)) {
            const msgID = `${entry.name}:${epoch}:${change.id}:${index}`;
            const event = toEvent(put, { id: uuidOf(msgID) });
            await js.publish(bucket.notifications[index]!.subject, JSON.stringify(event), { msgID });
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
}

/** A UUID-shaped id derived from `text`, so the same change's event always has the same id. */
function uuidOf(text: string): string {
  const hex = createHash("sha256").update(text).digest("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-5${hex.slice(13, 16)}-${((Number.parseInt(hex[16]!, 16) & 3) | 8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}
