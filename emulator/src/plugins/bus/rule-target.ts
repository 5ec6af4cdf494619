import { type Chain, deliveryRoute, type NimbusEvent, type ResourceRef, refusal } from "@nimbus/core";
import type { FunctionHost } from "../function/host.ts";
import type { LoopGuard } from "../loop-guard.ts";
import type { QueuePlugin } from "../queue/plugin.ts";
import type { Enqueued, OutgoingMessage } from "../queue/store.ts";

export interface RuleTargetContext {
  queues: QueuePlugin;
  /** The running host of a function, to deliver events to its `event` handler. */
  host: (fn: string) => FunctionHost | undefined;
  /** What putting `event` on bus `name` stores, having come through the buses in `path`, carrying `chain`. */
  forward: (name: string, event: NimbusEvent, path: readonly string[], chain: Chain | undefined) => Enqueued[];
  /** Gives a function delivery its chain, and stops a recursive loop. */
  loops: LoopGuard;
}

/**
 * The pairing of a rule and one of its targets. At put time, what a matched event
 * stores for the target: a message to the route's delivery queue (a function, which runs
 * it later with retries), to the target queue, or the target bus's own deliveries.
 * Throws when the target refuses the event (a queue's schema, a bus's hop limit).
 */
export function routeToTarget(
  ctx: RuleTargetContext,
  rule: string,
  target: ResourceRef,
  event: NimbusEvent,
  message: OutgoingMessage,
  path: readonly string[],
): Enqueued[] {
  if (target.kind === "function") return [{ queue: deliveryRoute(rule, target).key, message }];
  if (target.kind === "queue") return [toQueue(ctx, target.name, message)];
  return ctx.forward(target.name, event, path, message.chain);
}

/**
 * How a rule's delivery queue hands one stored event to its target: a function's `event`
 * handler (a failure is retried), or, for a queue or bus, a store that either takes the
 * event or refuses it for good (never retried).
 */
export function deliverToTarget(
  ctx: RuleTargetContext,
  bus: string,
  rule: string,
  target: ResourceRef,
): (body: Uint8Array, sent: Chain | undefined) => Promise<void> {
  return async (body, sent) => {
    const event = JSON.parse(Buffer.from(body).toString("utf8")) as NimbusEvent;
    if (target.kind === "function") {
      const what = `event ${event.id} (${event["detail-type"]})`;
      const chain = ctx.loops.enter(sent, { via: { kind: "rule", name: rule }, function: target.name }, what);
      const host = ctx.host(target.name);
      if (!host) throw new Error(`function "${target.name}" is not running`);
      const result = await host.run("event", event, `${what} by ${rule}`, chain);
      if (!result.ok) throw new Error(result.error);
      return;
    }
    let items: Enqueued[];
    try {
      items =
        target.kind === "queue"
          ? [toQueue(ctx, target.name, { format: "json", body, ...(sent ? { chain: sent } : {}) })]
          : ctx.forward(target.name, event, [bus], sent);
    } catch (error) {
      throw refusal(error);
    }
    ctx.queues.enqueue(items);
  };
}

function toQueue(ctx: RuleTargetContext, queue: string, message: OutgoingMessage): Enqueued {
  ctx.queues.check(queue, message);
  return { queue, message };
}
