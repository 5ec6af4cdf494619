import {
  type Chain,
  deliveredChain,
  type Graph,
  isLoop,
  type LoopRoute,
  loopError,
  NimbusError,
  refusal,
} from "@nimbus/core";
import type { Logger } from "../logs/logger.ts";
import type { Plugin } from "./plugin.ts";

/**
 * Stops recursive loops (docs/semantics.md, "Recursive loops"): every delivery that would
 * start an invocation asks it for the invocation's chain, and one past the limit is
 * refused for good, with one error in the log naming the loop through the app's graph.
 * Not a resource kind: it is in the registry, first, only to take each graph as it comes.
 */
export class LoopGuard implements Plugin {
  readonly kind = "loop";
  readonly #logger: Logger;
  #graph: Graph | undefined;

  constructor(ctx: { logger: Logger }) {
    this.#logger = ctx.logger;
  }

  async start(graph: Graph): Promise<void> {
    this.#graph = graph;
  }

  async apply(graph: Graph): Promise<string[]> {
    this.#graph = graph;
    return [];
  }

  async reset(): Promise<void> {}

  async close(): Promise<void> {}

  /**
   * The chain of the invocation a delivery of what `sent` sent starts; past the limit,
   * logs the loop and throws a `refusal` (the delivery then goes to the dead-letter queue
   * of the queue or bus that made it, or is dropped). `what` names what is delivered.
   */
  enter(sent: Chain | undefined, route: LoopRoute, what: string): Chain {
    const chain = deliveredChain(sent);
    if (!isLoop(chain)) return chain;
    const error = this.#graph
      ? loopError(this.#graph, chain, route, what)
      : new NimbusError("NIMBUS_FUNCTION_LOOP", `recursive loop stopped at function "${route.function}"`);
    this.#logger.log({ fn: route.function, level: "error", message: error.message });
    throw refusal(error);
  }
}
