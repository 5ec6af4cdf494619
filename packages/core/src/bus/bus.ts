import type { z } from "zod";
import type { App } from "../app/app.ts";
import { type BuildContext, Construct } from "../app/construct.ts";
import { Rule, type RuleProps } from "../rule/rule.ts";
import { toJsonSchema } from "../spec/json-schema.ts";
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
}

/** An event bus that routes events to targets through rules with EventBridge patterns. */
export class Bus<Events extends EventMap = Record<string, unknown>> extends Construct {
  readonly kind = "bus" as const;
  /** Carries the event types to bindings and handlers; never set at run time. */
  declare readonly __events: Events;
  readonly #props: BusProps<Events> | undefined;

  constructor(app: App, name: string, props?: BusProps<Events>) {
    super(app, name);
    this.#props = props;
  }

  /**
   * Delivers every event that matches `pattern` to each target. Named `<bus>/<rule>` outside the app file.
   * @example orders.rule("paid", { pattern: { "detail-type": ["OrderPaid"] }, targets: [fulfilment] })
   */
  rule(name: string, props: RuleProps): Rule {
    return new Rule(this.app, this, name, props);
  }

  build(ctx: BuildContext): BusSpec | undefined {
    if (!ctx.parse(busPropsSchema, this.#props ?? {}, "NIMBUS_BUS_PROPS")) return undefined;
    const schemas = this.#props?.schema;
    if (schemas === undefined) return { schema: null };
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
    return { schema };
  }
}
