import { createEmulator, type Emulator } from "@nimbus/emulator/testing";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type AlertRecord, hourOf, hourPrefix, type Reading } from "./src/readings.ts";
import type { Rollup, Stats } from "./src/rollup.ts";

let emu: Emulator;

beforeAll(async () => {
  // A temporary state folder; the clock moves only when a test advances it.
  emu = await createEmulator({ root: import.meta.dirname, watch: false, clock: "manual" });
});

afterAll(async () => {
  await emu?.close();
});

const post = (readings: unknown[]) =>
  emu.fetch("/readings", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ readings }),
  });

/** Every alert the pager took in `hour`, by device. */
async function alertsIn(hour: string): Promise<Map<string, AlertRecord>> {
  const records = new Map<string, AlertRecord>();
  const listed = await emu.bucket("readings").list({ prefix: hourPrefix("alerts", hour) });
  for (const { key } of listed.objects) {
    const record = (await (await emu.bucket("readings").get(key))!.json()) as AlertRecord;
    records.set(record.reading.deviceId, record);
  }
  return records;
}

describe("the telemetry example: ingest", () => {
  it("POST /readings: refuses a batch that breaks the schema, naming the reading and field", async () => {
    const refused = await post([{ deviceId: "t-1", deviceType: "thermostat", metric: "temperature", value: "hot" }]);
    expect(refused.status).toBe(400);
    const { error } = (await refused.json()) as { error: string };
    expect(error).toContain("readings.0.value");
    expect(error).toContain("readings.0.at");
    expect((await post([])).status).toBe(400);
  });
});

describe("the telemetry example: alerts", () => {
  it("rules: numeric ranges, prefix, anything-but and exists pick the alerts; a failed page retries; an unreachable device's alert ends in alerts-dlq", async () => {
    // A fixed hour, so the pager's deterministic failures are the same on every run.
    const at = "2026-03-01T10:15:00.000Z";
    const reading = (deviceId: string, deviceType: string, metric: string, value: number, extra = {}): Reading => ({
      deviceId,
      deviceType,
      metric,
      value,
      at,
      ...extra,
    });
    const accepted = await post([
      reading("t-1", "thermostat", "temperature", 85), // overheat: >= 80
      reading("t-2", "thermostat", "temperature", 21),
      reading("f-1", "freezer-chest", "temperature", -5), // freezer-thaw: prefix "freezer", in (-15, 80)
      reading("f-2", "freezer-chest", "temperature", -20),
      reading("r-1", "test-rig", "temperature", 99, { battery: 1, fault: "rig" }), // anything-but: never a test rig
      reading("s-1", "sensor", "humidity", 40, { battery: 5 }), // low-battery: in [0, 10)
      reading("s-2", "sensor", "humidity", 41, { fault: "probe disconnected" }), // fault: exists
      reading("s-3", "sensor", "humidity", 42, { battery: 80 }),
      reading("offline-1", "thermostat", "temperature", 90), // overheat, but the pager has no route for it
    ]);
    expect(accepted.status).toBe(202);
    expect(await accepted.json()).toMatchObject({ accepted: 9 });

    // The first delivery of each alert has run; f-1's first page timed out, offline-1's failed.
    await emu.idle();
    expect(emu.queue("alerts").stats()).toMatchObject({ depth: 0, inFlight: 0, delayed: 2 });
    expect([...(await alertsIn("2026-03-01T10")).keys()].sort()).toEqual(["s-1", "s-2", "t-1"]);

    // Back-off: 1s, then 1–2s, then 2–4s; the fourth failure moves offline-1 to the dead-letter queue.
    await emu.clock.advance("1m");
    await emu.idle();
    const records = await alertsIn("2026-03-01T10");
    expect(
      Object.fromEntries([...records].map(([device, record]) => [device, [record.reasons, record.attempts]])),
    ).toEqual({
      "t-1": [["overheat"], 1],
      "f-1": [["freezer-thaw"], 2],
      "s-1": [["low-battery"], 1],
      "s-2": [["fault"], 1],
    });
    expect(emu.queue("alerts").stats()).toEqual({ depth: 0, inFlight: 0, delayed: 0, deadLettered: 1 });
    const [dead] = emu.queue("alerts-dlq").deadLettered();
    expect(dead).toMatchObject({
      queue: "alerts",
      attempts: 4,
      lastError: expect.stringContaining("no on-call route for device offline-1"),
    });
    expect(dead?.body).toMatchObject({ detail: { deviceId: "offline-1" } });
  });
});

describe("the telemetry example: rollup", () => {
  it("hourly-rollup: concurrent batches all land, and advancing the clock to the hour rolls up the hour before", async () => {
    const now = emu.clock.now();
    const hour = hourOf(now);
    const at = new Date(now).toISOString();
    // 20 requests at once, each with 25 readings of the same hour: none may be lost.
    const batches = Array.from({ length: 20 }, (_, b) =>
      Array.from({ length: 25 }, (_, i) => ({
        deviceId: `room-${i % 5}`,
        deviceType: "thermostat",
        metric: "temperature",
        value: 18 + ((b + i) % 5),
        at,
      })),
    );
    const answers = await Promise.all(batches.map(post));
    expect(answers.map((answer) => answer.status)).toEqual(batches.map(() => 202));
    await emu.idle();

    const stats = (await (await emu.fetch(`/stats?since=${hour}:00:00Z`)).json()) as Stats;
    expect(stats.raw).toMatchObject({ objects: 20, readings: 500 });
    expect(stats.raw.lagMs).not.toBeNull();
    expect(stats.alerts.handled).toBe(0);

    const next = emu.schedule("hourly-rollup").next()!;
    expect(hourOf(next.getTime() - 3_600_000)).toBe(hour);
    expect(await emu.bucket("readings").head(`rollups/${hour}.json`)).toBeNull();
    await emu.clock.advance(next.getTime() - emu.clock.now());
    const rollup = (await (await emu.bucket("readings").get(`rollups/${hour}.json`))!.json()) as Rollup;
    expect(rollup).toEqual({
      hour,
      objects: 20,
      readings: 500,
      series: { "thermostat/temperature": { readings: 500, devices: 5, min: 18, max: 22, mean: 20 } },
    });
  });
});
