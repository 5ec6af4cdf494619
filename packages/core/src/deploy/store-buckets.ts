import type { BucketNotificationSpec } from "../bucket/spec.ts";
import type { BusSpec } from "../bus/spec.ts";
import { resourcesOf } from "../graph/resources.ts";
import type { Graph } from "../graph/schema.ts";
import { storeBucketName } from "./store-access.ts";
import { busNames, type SubjectOptions } from "./subjects.ts";

/** A bucket notification as the store service publishes it: to the bus's stream subject. */
export interface StoreNotification extends BucketNotificationSpec {
  /** The bus's subject on NATS (`busNames(bus).subject`). */
  subject: string;
  /**
   * The bus's detail schemas (its spec's `schema`), which the store checks an event
   * against before publishing it, as a put on the bus would; null: any event.
   */
  schema: BusSpec["schema"];
}

/** One bucket of the app as the Nimbus store holds it. */
export interface StoreBucket {
  /** Its name in the store, and over S3. @example "prod-shop-uploads" */
  name: string;
  /** Its name in the app: the name its events carry, as in the emulator. @example "uploads" */
  bucket: string;
  /** Its `notify(...)`s, in declaration order, each with its bus's subject. */
  notifications: StoreNotification[];
}

/**
 * The buckets of an app as the Nimbus store serves them, with the notifications its
 * outbox publishes, derived from the graph's bucket specs: the same specs the emulator
 * notifies from, so a write notifies the same buses in both.
 */
export function storeBuckets(graph: Graph, options: SubjectOptions = {}): StoreBucket[] {
  const schemas = new Map(resourcesOf(graph, "bus").map((bus) => [bus.name, bus.spec.schema]));
  return resourcesOf(graph, "bucket").map((resource) => ({
    name: storeBucketName(resource.name, options),
    bucket: resource.name,
    notifications: resource.spec.notifications.map((notification) => ({
      ...notification,
      subject: busNames(notification.bus, options).subject,
      // A valid graph has every notified bus.
      schema: schemas.get(notification.bus) ?? null,
    })),
  }));
}
