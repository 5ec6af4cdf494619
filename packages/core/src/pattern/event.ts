import { NimbusError } from "../errors/nimbus-error.ts";

/** What a producer puts on a bus: `bus.put({ source: "orders", detailType: "OrderPaid", detail: { … } })`. */
export interface PutEntry<D = unknown> {
  /** Who sent the event, e.g. `"orders"` or `"com.acme.billing"`. */
  source: string;
  /** What kind of event it is, e.g. `"OrderPaid"`. */
  detailType: string;
  /** The event's own data; any JSON value. */
  detail: D;
  /** Resources the event concerns (ARNs or names). Default `[]`. */
  resources?: string[];
  /** When it happened. Default: now. */
  time?: Date | string;
}

/** An event as rules see it: the EventBridge envelope around the producer's `detail`. */
export interface NimbusEvent<D = unknown> {
  version: "0";
  id: string;
  "detail-type": string;
  source: string;
  account: string;
  /** ISO 8601 in UTC without milliseconds, e.g. `2026-01-01T00:00:00Z`. */
  time: string;
  region: string;
  resources: string[];
  detail: D;
}

export interface ToEventOptions {
  /** Default: a random UUID. */
  id?: string;
  /** The time used when the entry has none. Default: the current time. */
  now?: Date;
  /** Default `"000000000000"`. */
  account?: string;
  /** Default `"local"`. */
  region?: string;
}

/** `2026-01-01T00:00:00Z`: EventBridge writes times to the second. */
function formatTime(time: Date): string {
  if (Number.isNaN(time.getTime())) {
    throw new NimbusError(
      "NIMBUS_EVENT_TIME_INVALID",
      "The event's time is not a valid date; pass a Date or an ISO 8601 string such as 2026-01-01T00:00:00Z.",
    );
  }
  return time.toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * Wraps a bus entry in the EventBridge envelope that patterns match against.
 *
 * @example toEvent({ source: "orders", detailType: "OrderPaid", detail: { total: 5 } }, { now })
 * // { version: "0", id: "…", "detail-type": "OrderPaid", source: "orders", account: "000000000000",
 * //   time: "2026-01-01T00:00:00Z", region: "local", resources: [], detail: { total: 5 } }
 */
export function toEvent<D>(entry: PutEntry<D>, options: ToEventOptions = {}): NimbusEvent<D> {
  const time = entry.time === undefined ? (options.now ?? new Date()) : new Date(entry.time);
  return {
    version: "0",
    id: options.id ?? globalThis.crypto.randomUUID(),
    "detail-type": entry.detailType,
    source: entry.source,
    account: options.account ?? "000000000000",
    time: formatTime(time),
    region: options.region ?? "local",
    resources: entry.resources ? [...entry.resources] : [],
    detail: entry.detail,
  };
}
