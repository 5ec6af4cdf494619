import { z } from "zod";

/** Most readings one `POST /readings` takes. */
export const maxBatch = 500;

/** One measurement of one device. */
export const readingSchema = z.object({
  deviceId: z.string().min(1).max(64),
  /** Lower-case, e.g. `thermostat`, `freezer-chest`; rules route on it. */
  deviceType: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, "expected lower-case letters, digits and -"),
  metric: z.string().min(1).max(32),
  value: z.number(),
  unit: z.string().max(16).optional(),
  /** When the device measured it (ISO 8601, UTC): it picks the hour the reading is stored under. */
  at: z.iso.datetime(),
  /** Battery charge in percent, when the device reports it. */
  battery: z.number().min(0).max(100).optional(),
  /** The device's own error report, when it has one. */
  fault: z.string().max(200).optional(),
});

/** What `POST /readings` takes. */
export const batchSchema = z.object({ readings: z.array(readingSchema).min(1).max(maxBatch) });

export type Reading = z.infer<typeof readingSchema>;

/** The telemetry bus: every accepted reading is one `Reading` event. */
export interface TelemetryEvents {
  Reading: Reading;
}

/** The source of the events `ingest` puts. */
export const source = "telemetry.ingest";

/** What `ingest` writes per request and hour: `raw/<yyyy>/<mm>/<dd>/<hh>/<request id>.json`. */
export interface RawObject {
  requestId: string;
  /** When ingest stored it (ms since the epoch). */
  receivedAt: number;
  readings: Reading[];
}

/** What `alert` writes once an alert is delivered: `alerts/<yyyy>/<mm>/<dd>/<hh>/<event id>.json`. */
export interface AlertRecord {
  eventId: string;
  reasons: string[];
  reading: Reading;
  /** When the pager took it (ms since the epoch). */
  handledAt: number;
  /** Deliveries it took. */
  attempts: number;
}

/** The UTC hour of a time, as `2026-01-31T09`. */
export function hourOf(time: string | number): string {
  return new Date(time).toISOString().slice(0, 13);
}

/** The folder of an hour under `kind`: `raw/2026/01/31/09/`. */
export function hourPrefix(kind: "raw" | "alerts", hour: string): string {
  return `${kind}/${hour.slice(0, 4)}/${hour.slice(5, 7)}/${hour.slice(8, 10)}/${hour.slice(11, 13)}/`;
}
