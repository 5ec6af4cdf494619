import type { PutEntry } from "../pattern/event.ts";
import { type BucketEvent, type BucketEventDetail, bucketEventSource } from "./events.ts";
import type { BucketNotificationSpec } from "./spec.ts";

/** One change to which object a key holds, as far as its notifications need it. */
export interface BucketChangeFacts {
  event: BucketEvent;
  /** The S3 operation that made it. */
  reason: BucketEventDetail["reason"];
  key: string;
  /** Size and ETag of the object written, or, for a delete, of the object deleted. */
  size: number;
  etag: string;
  /** When the change was made, in ms since the epoch. */
  time: number;
}

/** One event a change puts on a bus: for the notification at `index` of the bucket's list. */
export interface ChangeEvent {
  bus: string;
  /** The notification's place in the bucket's list: one change may match several. */
  index: number;
  entry: PutEntry<BucketEventDetail>;
}

/**
 * The events one change in a bucket puts on buses: one per notification whose events,
 * prefix and suffix match it, shaped as S3's EventBridge events. The emulator's notifier,
 * the store service's relay and the deployed host's bindings (with any S3 endpoint) all
 * decide through this, so the same writes notify the same buses with the same events on
 * every target.
 */
export function changeEvents(
  bucket: string,
  notifications: readonly BucketNotificationSpec[],
  change: BucketChangeFacts,
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

function toEntry(bucket: string, change: BucketChangeFacts): PutEntry<BucketEventDetail> {
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
