import type { z } from "zod";
import type { App } from "../app/app.ts";
import { type BuildContext, Construct } from "../app/construct.ts";
import { Queue } from "../queue/queue.ts";
import { Rule, type RuleProps } from "../rule/rule.ts";
import { toJsonSchema } from "../spec/json-schema.ts";
import type { Duration } from "../units/duration.ts";
import { type BusSpec, busPropsSchema } from "./spec.ts";

/**
 * Detail types of a bus's events, each mapped to the shape of its `detail`, e.g.
 * `interface ShopEvents { OrderPaid: { id: string } }`. Untyped buses use `Record<string, unknown>`.
 */
export type EventMap = object;

/** Per detail-type, a zod schema of the event's `detail`. */
export type EventSchemas = Record<string, z.ZodType>;

export interface BusProps<Events extends EventMap = Record<string, unknown>> {
  /**
   * Per detail-type, a zod schema of `detail`. Every `put` is checked against it and an
   * event of a detail-type it does not name is refused; it also types `put` and `event`.
   * @default none: any detail-type and detail
   * @example { OrderPaid: z.object({ id: z.number(), total: z.number() }) }
   */
  schema?: { [K in keyof Events]: z.ZodType<Events[K]> };
  /** Retry policy for deliveries to a function target that throws or times out. */
  delivery?: {
    /**
     * Deliveries of one event to one target before it moves to the dead-letter queue (or is dropped without one).
     * @default 3
     * @example 5
     */
    maxAttempts?: number;
    /** Exponential back-off with jitter between `initial` and `max`. */
    backoff?: {
      /** @default "1s" @example "500ms" */
      initial?: Duration;
      /** @default "1m" @example "10 minutes" */
      max?: Duration;
    };
  };
  /**
   * Where events go whose delivery to a target keeps failing (or can never succeed, such as
   * a queue target refusing the event): `true` creates a queue named `<bus>-dlq`; or pass a queue.
   * The message body is the event.
   * @default no dead-letter queue: such events are dropped and logged
   * @example true
   */
  deadLetter?: true | Queue<any>;
}

/** An event bus that routes events to targets through rules with EventBridge patterns. */
export class Bus<Events extends EventMap = Record<string, unknown>> extends Construct {
  readonly kind = "bus" as const;
  /** Carries the event types to bindings and handlers; never set at run time. */
  declare readonly __events: Events;
  readonly #props: BusProps<Events> | undefined;
  /** The queue created by `deadLetter: true`. */
  readonly deadLetterQueue: Queue<any> | undefined;

  constructor(app: App, name: string, props?: BusProps<Events>) {
    super(app, name);
    this.#props = props;
    this.deadLetterQueue = props?.deadLetter === true ? new Queue(app, `${name}-dlq`) : undefined;
  }

  /**
   * Delivers every event that matches `pattern` to each target. Named `<bus>/<rule>` outside the app file.
   * @example orders.rule("paid", { pattern: { "detail-type": ["OrderPaid"] }, targets: [fulfilment] })
   */
  rule(name: string, props: RuleProps): Rule {
    return new Rule(this.app, this, name, props);
  }

  build(ctx: BuildContext): BusSpec | undefined {
    const props = ctx.parse(busPropsSchema, this.#props ?? {}, "NIMBUS_BUS_PROPS");
    let deadLetter: string | null = null;
    const dlq = this.#props?.deadLetter;
    if (dlq === true) deadLetter = this.deadLetterQueue?.name ?? null;
    else if (dlq !== undefined) deadLetter = ctx.ref(dlq, "deadLetter", ["queue"])?.name ?? null;
    if (!props) return undefined;
    const { delivery } = props;
    if (delivery.backoff.initial > delivery.backoff.max) {
      ctx.issue(
        "NIMBUS_BUS_BACKOFF",
        "delivery.backoff",
        `expected initial (${delivery.backoff.initial} ms) to be at most max (${delivery.backoff.max} ms); raise max or lower initial`,
      );
    }
    const schema = this.#schema(ctx);
    return schema === undefined ? undefined : { schema, delivery, deadLetter };
  }

  /** The detail schemas as JSON Schema; undefined when they are not valid. */
  #schema(ctx: BuildContext): BusSpec["schema"] | undefined {
    const schemas = this.#props?.schema;
    if (schemas === undefined) return null;
    if (typeof schemas !== "object" || schemas === null || "_zod" in schemas) {
      ctx.issue(
        "NIMBUS_SCHEMA_INVALID",
        "schema",
        "expected an object mapping each detail-type to a zod schema of its detail, e.g. { OrderPaid: z.object({ id: z.number() }) }",
      );
      return undefined;
    }
    const schema: Record<string, Record<string, unknown>> = {};
    for (const [detailType, zodSchema] of Object.entries(schemas)) {
      const json = toJsonSchema(zodSchema, `schema.${detailType}`, ctx);
      if (json) schema[detailType] = json;
    }
    return schema;
  }
}
