import { defineHandler } from "@nimbus/runtime";
import type { z } from "zod";
import type { ingest } from "../nimbus.app";
import { batchSchema, hourOf, hourPrefix, type RawObject, type Reading, source } from "./readings";

/** A bus takes at most 10 entries per put. */
const putSize = 10;

/**
 * `POST /readings` with `{ readings: [...] }`: checks the batch, stores it raw, puts one
 * `Reading` event per reading on the bus, and answers 202 with how many it took.
 *
 * Raw readings go to one new object per request and hour (`raw/<yyyy>/<mm>/<dd>/<hh>/<request id>.json`),
 * never appended to a shared one: two requests at once would each read the old object
 * and the later write would lose the other's readings.
 */
export default defineHandler<typeof ingest>({
  async fetch(request, env, ctx) {
    const parsed = batchSchema.safeParse(await request.json().catch(() => undefined));
    if (!parsed.success) return Response.json({ error: describe(parsed.error) }, { status: 400 });
    const { readings } = parsed.data;
    const requestId = ctx.invocationId;

    const byHour = new Map<string, Reading[]>();
    for (const reading of readings) {
      const hour = hourOf(reading.at);
      byHour.set(hour, [...(byHour.get(hour) ?? []), reading]);
    }
    const receivedAt = Date.now();
    await Promise.all(
      [...byHour].map(([hour, list]) => {
        const raw: RawObject = { requestId, receivedAt, readings: list };
        return env.readings.put(`${hourPrefix("raw", hour)}${requestId}.json`, JSON.stringify(raw), {
          contentType: "application/json",
        });
      }),
    );

    const puts: Promise<unknown>[] = [];
    for (let start = 0; start < readings.length; start += putSize) {
      const chunk = readings.slice(start, start + putSize);
      puts.push(env.telemetry.put(chunk.map((detail) => ({ source, detailType: "Reading" as const, detail }))));
    }
    await Promise.all(puts);
    return Response.json({ accepted: readings.length, requestId }, { status: 202 });
  },
});

/** The first few problems, each as `path: message`, never the raw zod error. */
function describe(error: z.ZodError): string {
  const shown = error.issues.slice(0, 5).map((issue) => `${issue.path.join(".") || "body"}: ${issue.message}`);
  const more = error.issues.length - shown.length;
  return `expected { readings: [{ deviceId, deviceType, metric, value, at }] } (1 to 500 readings); ${shown.join("; ")}${more > 0 ? `; and ${more} more` : ""}`;
}
