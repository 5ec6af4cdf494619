import {
  type CompiledSchedule,
  compileSchedule,
  deliveryRoute,
  type FunctionSpec,
  functionSettings,
  type Graph,
  parseDuration,
  resourcesOf,
  type ScheduleSpec,
  scheduleExpressionOf,
  scheduleLimits,
  unknownResource,
} from "@nimbus/core";
import type { ScheduledController } from "@nimbus/runtime";
import type { Plugin } from "../plugin.ts";
import type { DeliveryQueue } from "../queue/consumer.ts";
import { oneAtATime } from "../queue/one-at-a-time.ts";
import type { Enqueued } from "../queue/store.ts";
import { deliverTick, type ScheduleTargetContext, tickDeliveries } from "./schedule-target.ts";

interface RunningSchedule {
  name: string;
  spec: ScheduleSpec;
  compiled: CompiledSchedule;
  /** The armed timer: when, and how to cancel it. */
  next?: { at: number; cancel: () => void };
}

export type SchedulePluginContext = ScheduleTargetContext;

/**
 * Schedules in the emulator: each fires at the times `nextRuns` gives, in its time zone,
 * on the emulator's clock (a manual clock fires them as a test advances it). A tick is
 * recorded in the same transaction that stores its delivery, so a restart never fires a
 * tick twice; ticks that fell due while the emulator was stopped are skipped and logged.
 * A function target gets ticks through a delivery queue of one at a time, so runs of one
 * schedule never overlap and a failing run is retried.
 */
export class SchedulePlugin implements Plugin {
  readonly kind = "schedule";
  readonly #ctx: SchedulePluginContext;
  readonly #schedules = new Map<string, RunningSchedule>();
  /** Set after the first `apply`: later ones are reloads, after which nothing was missed. */
  #applied = false;
  #stopped = false;

  constructor(ctx: SchedulePluginContext) {
    this.#ctx = ctx;
  }

  async start(graph: Graph): Promise<void> {
    this.#take(graph);
  }

  async apply(graph: Graph): Promise<string[]> {
    this.#take(graph);
    return [];
  }

  /** Fired ticks are recorded with the queues' state: a reset of the queues forgets them. */
  async reset(): Promise<void> {}

  async close(): Promise<void> {
    this.stop();
  }

  /** Takes the graph's schedules: new ones armed, changed ones re-armed from now, removed ones stopped. */
  #take(graph: Graph): void {
    const wanted = resourcesOf(graph, "schedule");
    const functions = new Map(resourcesOf(graph, "function").map((fn) => [fn.name, fn.spec]));
    const names = new Set(wanted.map((schedule) => schedule.name));
    for (const [name, running] of this.#schedules) {
      if (!names.has(name)) {
        running.next?.cancel();
        this.#schedules.delete(name);
      }
    }
    const deliveries: DeliveryQueue[] = [];
    for (const { name, spec } of wanted) {
      const current = this.#schedules.get(name);
      if (!current || JSON.stringify(current.spec) !== JSON.stringify(spec)) {
        current?.next?.cancel();
        const running: RunningSchedule = { name, spec, compiled: compileSchedule(scheduleExpressionOf(spec)) };
        this.#schedules.set(name, running);
        this.#arm(running, this.#applied ? this.#ctx.clock.now() - 1 : this.#resumeAfter(running));
      }
      if (spec.target.kind === "function")
        deliveries.push(this.#deliveryQueue(name, spec, functions.get(spec.target.name)));
    }
    this.#ctx.queues.applyDeliveries("schedule", deliveries);
    this.#applied = true;
  }

  names(): string[] {
    return [...this.#schedules.keys()].sort();
  }

  /** When schedule `name` fires next, in ms; undefined when it never will. */
  nextTick(name: string): number | undefined {
    return this.#require(name).next?.at;
  }

  /** Fires schedule `name` now, out of turn: its ticks stay as they were. Returns the tick's time. */
  trigger(name: string): { scheduledTime: number } {
    const running = this.#require(name);
    const scheduledTime = this.#ctx.clock.now();
    this.#ctx.logger.info(`schedule ${name}: triggered by hand`);
    this.#ctx.queues.enqueue(this.#deliveries(running, scheduledTime));
    return { scheduledTime };
  }

  stop(): void {
    this.#stopped = true;
    for (const running of this.#schedules.values()) running.next?.cancel();
  }

  /** Where a schedule's ticks resume: after its last fired tick, skipping those missed while stopped. */
  #resumeAfter(running: RunningSchedule): number {
    const now = this.#ctx.clock.now();
    const last = this.#ctx.queues.store.lastTick(running.name);
    if (last === undefined || last >= now) return Math.max(last ?? Number.NEGATIVE_INFINITY, now - 1);
    let missed = 0;
    let latest: number | undefined;
    const most = scheduleLimits.maxMissedCount;
    for (let at = running.compiled.next(new Date(last)); at && at.getTime() < now && missed < most; ) {
      missed++;
      latest = at.getTime();
      at = running.compiled.next(at);
    }
    if (missed > 0) {
      this.#ctx.logger.warn(
        `schedule ${running.name}: skipped ${missed === most ? `${most.toLocaleString("en")} or more` : missed} tick${missed === 1 ? "" : "s"} that fell due while the emulator was stopped (the last at ${new Date(latest!).toISOString()}); \`nimbus trigger <dir> ${running.name}\` fires one now`,
      );
    }
    return now - 1;
  }

  /** Arms the timer for the first tick after `after`. */
  #arm(running: RunningSchedule, after: number): void {
    const next = running.compiled.next(new Date(after))?.getTime();
    running.next = undefined;
    if (next === undefined || this.#stopped) return;
    const cancel = this.#ctx.clock.at(next, () => this.#fire(running, next));
    running.next = { at: next, cancel };
  }

  #fire(running: RunningSchedule, at: number): void {
    if (this.#schedules.get(running.name) !== running) return;
    try {
      this.#ctx.queues.enqueue(this.#deliveries(running, at), { schedule: running.name, at });
    } catch (error) {
      this.#ctx.logger.error(
        `schedule ${running.name}: the tick due at ${new Date(at).toISOString()} failed: ${(error as Error).message}`,
      );
    }
    this.#arm(running, at);
  }

  /** What one tick stores: a message to its function's delivery queue or its queue, or a bus's deliveries. */
  #deliveries(running: RunningSchedule, scheduledTime: number): Enqueued[] {
    const { name, spec } = running;
    const target = spec.target;
    const late = this.#ctx.clock.now() - scheduledTime;
    this.#ctx.logger.info(
      `schedule ${name}: tick due at ${new Date(scheduledTime).toISOString()} to ${target.kind} ${target.name}${late > scheduleLimits.lateAfter ? ` (${late} ms late)` : ""}`,
    );
    try {
      return tickDeliveries(this.#ctx, name, spec, scheduledTime);
    } catch (error) {
      this.#ctx.logger.error(
        `schedule ${name}: ${target.kind} ${target.name} refused the tick due at ${new Date(scheduledTime).toISOString()}, so it was dropped: ${(error as Error).message}`,
      );
      return [];
    }
  }

  /** The delivery queue of a schedule whose target is a function: one run at a time, retried as a queue's. */
  #deliveryQueue(name: string, spec: ScheduleSpec, fn: FunctionSpec | undefined): DeliveryQueue {
    const target = spec.target.name;
    const route = deliveryRoute(name, spec.target);
    return {
      name: route.key,
      label: route.label,
      policy: {
        visibilityTimeout:
          (fn?.timeout ?? parseDuration(functionSettings.timeout.default)!) + scheduleLimits.leaseMargin,
        maxAttempts: scheduleLimits.maxAttempts,
        backoff: {
          initial: parseDuration(scheduleLimits.backoffInitial)!,
          max: parseDuration(scheduleLimits.backoffMax)!,
        },
        deadLetter: null,
        retention: scheduleLimits.maxTickAge,
      },
      consumer: oneAtATime(1, deliverTick(this.#ctx, name, target), () => this.#ctx.host(target) !== undefined),
      describe: (body) => {
        const { scheduledTime } = JSON.parse(Buffer.from(body).toString("utf8")) as ScheduledController;
        return `the tick due at ${new Date(scheduledTime).toISOString()}`;
      },
      noDeadLetter: "a schedule has no dead-letter queue",
    };
  }

  #require(name: string): RunningSchedule {
    const running = this.#schedules.get(name);
    if (!running) throw unknownResource("schedule", name, this.names());
    return running;
  }
}
