import type { App } from "../app/app.ts";
import { type BuildContext, Construct } from "../app/construct.ts";
import type { Target } from "../rule/rule.ts";
import { parseDuration } from "../units/duration.ts";
import { scheduleProblems } from "./expression.ts";
import { type ScheduleSpec, schedulePropsSchema } from "./spec.ts";

export interface ScheduleProps {
  /**
   * Cron: 5 fields (`min hour day month weekday`), 6 with seconds first, or AWS's
   * `cron(min hour day-of-month month day-of-week year)`. Set exactly one of `cron`, `rate`, `every`.
   * @example "0 2 * * *"
   */
  cron?: string;
  /**
   * AWS's rate form; fires at whole multiples of the interval since the Unix epoch.
   * @example "rate(5 minutes)"
   */
  rate?: string;
  /**
   * A readable interval; fires at whole multiples of it since the Unix epoch.
   * @example "15m"
   */
  every?: string;
  /**
   * IANA time zone the cron fields are read in.
   * @default "UTC"
   * @example "Europe/Berlin"
   */
  timezone?: string;
  /**
   * What a tick reaches: a function's `scheduled` handler, a queue or a bus.
   * @example report
   */
  target: Target;
  /**
   * Sent with each tick to a queue (as the message body) or a bus (as the event detail).
   * @default the tick: { schedule, scheduledTime }
   * @example { kind: "nightly" }
   */
  payload?: unknown;
}

/** A timer that fires on a cron, rate or interval, in a time zone. */
export class Schedule extends Construct {
  readonly kind = "schedule" as const;
  readonly #props: ScheduleProps;

  constructor(app: App, name: string, props: ScheduleProps) {
    super(app, name);
    this.#props = props;
  }

  build(ctx: BuildContext): ScheduleSpec | undefined {
    const props = ctx.parse(schedulePropsSchema, this.#props ?? {}, "NIMBUS_SCHEDULE_PROPS");
    const target = ctx.ref(this.#props?.target, "target", ["function", "queue", "bus"]);
    if (!props) return undefined;
    const { cron, rate, every, timezone, payload } = props;
    const problems = scheduleProblems({ cron, rate, every, timezone });
    for (const problem of problems) ctx.issue("NIMBUS_SCHEDULE_INVALID", problem.field, problem.message);
    if (problems.length > 0 || !target) return undefined;
    const spec: ScheduleSpec = { timezone: timezone ?? "UTC", target };
    if (cron !== undefined) spec.cron = cron;
    if (rate !== undefined) spec.rate = rate;
    if (every !== undefined) spec.every = parseDuration(every);
    if (payload !== undefined) spec.payload = payload;
    return spec;
  }
}
