import { defineHandler, type EnvOf } from "@nimbus/runtime";
import type { rollup } from "../nimbus.app";
import { type AlertRecord, hourOf, hourPrefix, type RawObject } from "./readings";

type Env = EnvOf<typeof rollup>;

/** One device type's metric over an hour. */
export interface Series {
  readings: number;
  devices: number;
  min: number;
  max: number;
  mean: number;
}

/** What `rollups/<hour>.json` holds. */
export interface Rollup {
  /** The UTC hour, e.g. `2026-01-31T09`. */
  hour: string;
  /** Raw objects read: one per ingest request. */
  objects: number;
  readings: number;
  /** By `<device type>/<metric>`, e.g. `thermostat/temperature`. */
  series: Record<string, Series>;
}

/** Lag in ms from a reading's `at` to the moment it was stored or paged. */
export interface Lag {
  p50: number;
  p95: number;
  max: number;
}

/** What `GET /stats?since=<ISO time>` answers about the readings measured since then. */
export interface Stats {
  since: string;
  raw: { objects: number; readings: number; lagMs: Lag | null };
  alerts: { handled: number; byReason: Record<string, number>; lagMs: Lag | null };
}

/** Every object under `prefix`, page by page, parsed. */
async function* objects<T>(env: Env, prefix: string): AsyncGenerator<T> {
  let cursor: string | undefined;
  do {
    const page = await env.readings.list({ prefix, cursor });
    for (const { key } of page.objects) {
      const stored = await env.readings.get(key);
      if (stored) yield await stored.json<T>(); // else: deleted since the listing
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
}

/** Adds up one hour's raw readings by device type and metric. */
async function rollUp(env: Env, hour: string): Promise<Rollup> {
  const result: Rollup = { hour, objects: 0, readings: 0, series: {} };
  const sums = new Map<string, { sum: number; devices: Set<string> }>();
  for await (const raw of objects<RawObject>(env, hourPrefix("raw", hour))) {
    result.objects += 1;
    for (const reading of raw.readings) {
      result.readings += 1;
      const name = `${reading.deviceType}/${reading.metric}`;
      result.series[name] ??= { readings: 0, devices: 0, min: reading.value, max: reading.value, mean: 0 };
      const series = result.series[name];
      const sum = sums.get(name) ?? { sum: 0, devices: new Set<string>() };
      sums.set(name, sum);
      series.readings += 1;
      series.min = Math.min(series.min, reading.value);
      series.max = Math.max(series.max, reading.value);
      sum.sum += reading.value;
      sum.devices.add(reading.deviceId);
    }
  }
  for (const [name, { sum, devices }] of sums) {
    const series = result.series[name]!;
    series.mean = sum / series.readings;
    series.devices = devices.size;
  }
  return result;
}

function lag(samples: number[]): Lag | null {
  if (samples.length === 0) return null;
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!;
  return { p50: at(0.5), p95: at(0.95), max: samples[samples.length - 1]! };
}

const hourMs = 3_600_000;
/** Most hours one `GET /stats` reads. */
const maxHours = 24;

async function stats(env: Env, since: number, now: number): Promise<Stats> {
  const result: Stats = {
    since: new Date(since).toISOString(),
    raw: { objects: 0, readings: 0, lagMs: null },
    alerts: { handled: 0, byReason: {}, lagMs: null },
  };
  const rawLag: number[] = [];
  const alertLag: number[] = [];
  const first = Math.max(since, now - maxHours * hourMs);
  for (let time = first - (first % hourMs); time <= now; time += hourMs) {
    const hour = hourOf(time);
    for await (const raw of objects<RawObject>(env, hourPrefix("raw", hour))) {
      const counted = raw.readings.filter((reading) => Date.parse(reading.at) >= since);
      if (counted.length === 0) continue;
      result.raw.objects += 1;
      result.raw.readings += counted.length;
      for (const reading of counted) rawLag.push(raw.receivedAt - Date.parse(reading.at));
    }
    for await (const record of objects<AlertRecord>(env, hourPrefix("alerts", hour))) {
      if (Date.parse(record.reading.at) < since) continue;
      result.alerts.handled += 1;
      for (const reason of record.reasons) result.alerts.byReason[reason] = (result.alerts.byReason[reason] ?? 0) + 1;
      alertLag.push(record.handledAt - Date.parse(record.reading.at));
    }
  }
  result.raw.lagMs = lag(rawLag);
  result.alerts.lagMs = lag(alertLag);
  return result;
}

/**
 * Every hour, on the hour: rolls up the hour before into `rollups/<hour>.json`. A reading
 * that arrives after its hour was rolled up is kept in `raw/`; trigger the schedule again
 * (`nimbus trigger … hourly-rollup` rolls up the hour before now) or read it with `GET /stats`.
 *
 * `GET /stats?since=<ISO time>` (default: the start of this hour) counts what was
 * measured since then, at most a day back: raw readings stored and alerts paged, with
 * their lag from the reading's `at`.
 */
export default defineHandler<typeof rollup>({
  async scheduled(controller, env) {
    const hour = hourOf(controller.scheduledTime - hourMs);
    const result = await rollUp(env, hour);
    await env.readings.put(`rollups/${hour}.json`, JSON.stringify(result), { contentType: "application/json" });
  },

  async fetch(request, env) {
    const now = Date.now();
    const param = new URL(request.url).searchParams.get("since");
    const since = param === null ? now - (now % hourMs) : Date.parse(param);
    if (Number.isNaN(since)) {
      return Response.json(
        { error: `expected since to be an ISO time such as 2026-01-31T09:00:00Z; got ${param}` },
        { status: 400 },
      );
    }
    return Response.json(await stats(env, since, now));
  },
});
