import { deliveryRoute, type ScheduleSpec, scheduleLimits } from "@nimbus/core";
import type { ScheduledController } from "@nimbus/runtime";
import type { Clock } from "../../clock/clock.ts";
import type { Logger } from "../../logs/logger.ts";
import type { BusPlugin } from "../bus/plugin.ts";
import type { FunctionHost } from "../function/host.ts";
import type { QueuePlugin } from "../queue/plugin.ts";
import type { Enqueued } from "../queue/store.ts";

/** Event fields of a tick put on a bus, as EventBridge's scheduled rules send them. */
export const scheduledEvent = { source: "nimbus.schedule", detailType: "Scheduled Event" } as const;

export interface ScheduleTargetContext {
  queues: QueuePlugin;
  bus: BusPlugin;
  clock: Clock;
  logger: Logger;
  /** The running host of a function, to run its `scheduled` handler. */
  host: (fn: string) => FunctionHost | undefined;
}

/**
 * The pairing of a schedule and its target. What one tick stores: a message to the
 * function's delivery queue, to the target queue (its payload), or the bus's deliveries
 * of a "Scheduled Event". Throws when the target refuses the tick.
 */
export function tickDeliveries(
  ctx: ScheduleTargetContext,
  name: string,
  spec: ScheduleSpec,
  scheduledTime: number,
): Enqueued[] {
  const controller: ScheduledController = { schedule: name, scheduledTime };
  const target = spec.target;
  const payload = spec.payload ?? controller;
  const json = (value: unknown) => ({ format: "json" as const, body: Buffer.from(JSON.stringify(value)) });
  if (target.kind === "function") return [{ queue: deliveryRoute(name, target).key, message: json(controller) }];
  if (target.kind === "queue") {
    const message = json(payload);
    ctx.queues.check(target.name, message);
    return [{ queue: target.name, message }];
  }
  const entries = [{ ...scheduledEvent, detail: payload, resources: [name], time: new Date(scheduledTime) }];
  const [event] = ctx.bus.events(ctx.bus.check(target.name, entries));
  return ctx.bus.route(target.name, event!);
}

/** How a schedule's delivery queue hands one stored tick to its function's `scheduled` handler. */
export function deliverTick(ctx: ScheduleTargetContext, name: string, fn: string): (body: Uint8Array) => Promise<void> {
  return async (body) => {
    const controller = JSON.parse(Buffer.from(body).toString("utf8")) as ScheduledController;
    const host = ctx.host(fn);
    if (!host) throw new Error(`function "${fn}" is not running`);
    // Also late when it fired on time but waited for the previous run (runs never overlap).
    const late = ctx.clock.now() - controller.scheduledTime;
    if (late > scheduleLimits.lateAfter) {
      ctx.logger.warn(
        `schedule ${name}: the tick due at ${new Date(controller.scheduledTime).toISOString()} reaches function ${fn} ${late} ms late`,
      );
    }
    const result = await host.run(
      "scheduled",
      controller,
      `schedule ${name}: tick due at ${new Date(controller.scheduledTime).toISOString()}`,
    );
    if (!result.ok) throw new Error(result.error);
  };
}
