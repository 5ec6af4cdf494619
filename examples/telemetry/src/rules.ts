import type { EventPattern } from "@nimbus/core";
import { source } from "./readings.ts";

const reading = { source: [source], "detail-type": ["Reading"] };
/** Test rigs report made-up values; they never page anyone. */
const notTestRig = [{ "anything-but": ["test-rig"] }];

/**
 * The alerting rules, by name: the app file routes each to the `alerts` queue, and
 * `alert` asks the same patterns which of them an event met, so the two cannot disagree.
 */
export const alertRules = {
  /** Anything but a test rig at 80 °C or more. */
  overheat: {
    ...reading,
    detail: { metric: ["temperature"], value: [{ numeric: [">=", 80] }], deviceType: notTestRig },
  },
  /** A freezer (`freezer`, `freezer-chest`, …) warmer than -15 °C: a numeric range, below what `overheat` takes. */
  "freezer-thaw": {
    ...reading,
    detail: { deviceType: [{ prefix: "freezer" }], metric: ["temperature"], value: [{ numeric: [">", -15, "<", 80] }] },
  },
  /** A battery below 10 %. */
  "low-battery": {
    ...reading,
    detail: { battery: [{ numeric: [">=", 0, "<", 10] }], deviceType: notTestRig },
  },
  /** The device reported a fault, whatever it says. */
  fault: {
    ...reading,
    detail: { fault: [{ exists: true }], deviceType: notTestRig },
  },
} as const satisfies Record<string, EventPattern>;

export type AlertReason = keyof typeof alertRules;
