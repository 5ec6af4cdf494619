/**
 * Recursive loops on the deployed host (docs/semantics.md "Recursive loops"): before a
 * delivery starts an invocation, its chain is the chain the delivered message carries
 * (`Nimbus-Chain`, that of the invocation that sent it) one deeper; past
 * `loopLimits.maxDepth` the delivery is refused for good, with one error in the log
 * naming the loop through the app's graph. The queue driver then ends the refused
 * message as any refusal (`decideDelivery` with a final outcome): at once in the
 * dead-letter queue of the queue or bus that delivered it, or dropped without one.
 */
import { type Chain, deepestChain, deliveredChain, type Graph, isLoop, type LoopRoute, loopError } from "@nimbus/core";
import type { QueueRunPayload } from "../message-batch.ts";

/** A batch as it is to be delivered, once the messages of a loop were taken out. */
export interface AdmittedBatch {
  /** The messages to deliver; none when every one was refused. */
  payload: QueueRunPayload;
  /** The chain the batch runs in: that of its deepest message (semantics loops/4). */
  chain: Chain | undefined;
  /** The messages taken out, each with its refusal (the loop's error message). */
  refused: { id: string; error: string }[];
}

/**
 * Checks each message of `payload` (its sender's chain at the same index of `sent`)
 * against the chain limit for a delivery to `route.function` by `route.via`; `what`
 * names a message for the error (`message 0192…`, `event 5b1e… (Object Created)`).
 * Every refusal is logged with `log` once, as `NIMBUS_FUNCTION_LOOP: <message>`.
 */
export function admitBatch(
  graph: Graph,
  route: LoopRoute,
  payload: QueueRunPayload,
  sent: readonly (Chain | undefined)[],
  what: (index: number) => string,
  log: (message: string) => void,
): AdmittedBatch {
  const messages: QueueRunPayload["messages"] = [];
  const chains: Chain[] = [];
  const refused: AdmittedBatch["refused"] = [];
  for (const [index, message] of payload.messages.entries()) {
    const chain = deliveredChain(sent[index]);
    if (isLoop(chain)) {
      const error = loopError(graph, chain, route, what(index));
      log(`${error.code}: ${error.message}`);
      refused.push({ id: message.id, error: error.message });
      continue;
    }
    messages.push(message);
    chains.push(chain);
  }
  return { payload: { ...payload, messages }, chain: deepestChain(chains), refused };
}
