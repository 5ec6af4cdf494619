import { matchesPattern } from "@nimbus/core";
import { defineHandler } from "@nimbus/runtime";
import type { alert, alerts } from "../nimbus.app";
import { page } from "./pager";
import { type AlertRecord, hourOf, hourPrefix } from "./readings";
import { alertRules } from "./rules";

/**
 * Pages for each alert, then records it under `alerts/<yyyy>/<mm>/<dd>/<hh>/<event id>.json`.
 * An event that met two rules arrives twice and is recorded once, under its id: a
 * redelivery (queues deliver at least once) does no harm either.
 *
 * A page that fails leaves its message unsettled and the batch throws that error, so the
 * queue retries it with the error as its `lastError`; after the queue's `maxAttempts` it
 * waits in `alerts-dlq`, where `nimbus dlq` shows why.
 */
export default defineHandler<typeof alert, typeof alerts>({
  async queue(batch, env) {
    let failure: unknown;
    for (const message of batch.messages) {
      const event = message.body;
      const reading = event.detail;
      try {
        await page(reading, message.attempts);
      } catch (error) {
        failure ??= error;
        continue;
      }
      const record: AlertRecord = {
        eventId: event.id,
        reasons: Object.entries(alertRules)
          .filter(([, pattern]) => matchesPattern(pattern, event))
          .map(([name]) => name),
        reading,
        handledAt: Date.now(),
        attempts: message.attempts,
      };
      await env.readings.put(`${hourPrefix("alerts", hourOf(reading.at))}${event.id}.json`, JSON.stringify(record), {
        contentType: "application/json",
      });
      message.ack();
    }
    if (failure !== undefined) throw failure;
  },
});
