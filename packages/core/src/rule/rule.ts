import type { App } from "../app/app.ts";
import { type BuildContext, Construct } from "../app/construct.ts";
import type { Bus } from "../bus/bus.ts";
import type { FunctionResource } from "../function/function.ts";
import type { Queue } from "../queue/queue.ts";
import type { ResourceRef } from "../spec/ref.ts";
import { type RuleSpec, rulePropsSchema } from "./spec.ts";

/** Anything a rule or a schedule can deliver to. */
export type Target = FunctionResource<any, any, any> | Queue<any> | Bus<any>;

export interface RuleProps {
  /**
   * An EventBridge event pattern; see docs/patterns.md for every operator.
   * @example { source: ["shop.api"], "detail-type": ["OrderPaid"], detail: { total: [{ numeric: [">", 0] }] } }
   */
  pattern: Record<string, unknown>;
  /**
   * Where matching events go: a function's `event` handler, a queue (the message body is
   * the whole event) or another bus.
   * @example [fulfilment]
   */
  targets: Target[];
  /**
   * Shown in tables and logs.
   * @default ""
   * @example "Paid orders go to fulfilment"
   */
  description?: string;
}

/** A bus rule; its resource name is `<bus>/<rule>`. */
export class Rule extends Construct {
  readonly kind = "rule" as const;
  readonly bus: Bus<any>;
  /** The rule's name as written in the app file, without the bus. */
  readonly ruleName: string;
  readonly #props: RuleProps;

  constructor(app: App, bus: Bus<any>, name: string, props: RuleProps) {
    super(app, `${bus.name}/${name}`);
    this.bus = bus;
    this.ruleName = name;
    this.#props = props;
  }

  build(ctx: BuildContext): RuleSpec | undefined {
    const props = ctx.parse(rulePropsSchema, this.#props ?? {}, "NIMBUS_RULE_PROPS");
    if (!props) return undefined;
    const { pattern, targets } = this.#props;
    if (typeof pattern !== "object" || pattern === null || Array.isArray(pattern)) {
      ctx.issue(
        "NIMBUS_PATTERN_INVALID",
        "pattern",
        `expected an event pattern object such as { source: ["shop.api"] }; found ${pattern === null ? "null" : Array.isArray(pattern) ? "an array" : typeof pattern}`,
      );
      return undefined;
    }
    if (!Array.isArray(targets) || targets.length === 0) {
      ctx.issue(
        "NIMBUS_RULE_TARGETS",
        "targets",
        "expected a list of at least one function, queue or bus, e.g. targets: [fulfilment]",
      );
      return undefined;
    }
    const refs = targets
      .map((target, index) => ctx.ref(target, `targets[${index}]`, ["function", "queue", "bus"]))
      .filter((ref): ref is ResourceRef => ref !== undefined);
    if (refs.length !== targets.length) return undefined;
    return { bus: this.bus.name, pattern, targets: refs, description: props.description };
  }
}
