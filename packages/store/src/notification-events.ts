import { type BucketEventDetail, type BucketNotificationSpec, bucketEventSource, type PutEntry } from "@nimbus/core";
import type { BucketChange } from "./store.ts";

/** One event a change puts on a bus: for the notification at `index` of the bucket's list. */
export interface ChangeEvent {
  bus: string;
  /** The notification's place in the bucket's list: one change may match several. */
  index: number;
  entry: PutEntry<BucketEventDetail>;
}

/**
 * The events one change in a bucket's outbox puts on buses: one per notification whose
 * events, prefix and suffix match it, shaped as S3's EventBridge events. The emulator's
 * notifier and the store service's relay both read the outbox through this, so the
 * same writes notify the same buses with the same events on every target.
 */
export function changeEvents(
  bucket: string,
  notifications: readonly BucketNotificationSpec[],
  change: BucketChange,
): ChangeEvent[] {
  const events: ChangeEvent[] = [];
  for (const [index, notification] of notifications.entries()) {
    if (
      notification.events.includes(change.event) &&
      change.key.startsWith(notification.prefix) &&
      change.key.endsWith(notification.suffix)
    ) {
      events.push({ bus: notification.bus, index, entry: toEntry(bucket, change) });
    }
  }
  return events;
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
