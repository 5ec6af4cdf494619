import { NimbusError } from "../errors/nimbus-error.ts";
import { resourcesOf } from "../graph/resources.ts";
import type { Graph } from "../graph/schema.ts";
import { describeResource, type ResourceRef, resourceId } from "../graph/shape.ts";
import { loopLimits } from "../limits.ts";

/**
 * Where an invocation stands in a chain of invocations, each caused by the one before
 * through a queue, a bus or a bucket notification (docs/semantics.md, "Recursive loops").
 * What a binding call sends carries the chain of the invocation that made it; the
 * invocation its delivery starts is one deeper.
 */
export interface Chain {
  /** The same for every invocation of one chain, for logs. */
  id: string;
  /** 1 for an invocation nothing of the app caused (a request, a tick, an outside write); one more per hop. */
  depth: number;
}

/** `<id>;<depth>`: how a chain travels with a message, an event or a bucket change (the `Nimbus-Chain` header). */
export function formatChain(chain: Chain): string {
  return `${chain.id};${chain.depth}`;
}

/** What a chain's id may be: in a new chain (`chainStartedBy`) and as `parseChain` reads one. */
const chainId = String.raw`[\w.-]{1,64}`;
const chainIdPattern = new RegExp(`^${chainId}$`);
const chainPattern = new RegExp(`^(${chainId});(\\d{1,6})$`);

/**
 * The chain written by `formatChain`, or undefined for anything else: a message stored
 * before chains were (or one from outside the app) belongs to no chain.
 */
export function parseChain(text: string | null | undefined): Chain | undefined {
  if (!text) return undefined;
  const match = chainPattern.exec(text);
  if (!match) return undefined;
  return { id: match[1]!, depth: Number(match[2]) };
}

/** A new chain's id: short, as logs show it. */
export function newChainId(): string {
  return crypto.randomUUID().slice(0, 8);
}

/**
 * The chain an invocation that nothing of the app caused starts (a request, a tick):
 * named after the invocation when its id can be a chain's, so a loop's error leads to
 * where the loop began, and no id is drawn for every request.
 */
export function chainStartedBy(invocationId: string): Chain {
  return { id: chainIdPattern.test(invocationId) ? invocationId : newChainId(), depth: 1 };
}

/**
 * The chain of the invocation a delivery starts: one deeper than the invocation that sent
 * what is delivered (`sent`), or a new chain at depth 1 when no invocation did.
 */
export function deliveredChain(sent: Chain | undefined): Chain {
  return sent ? { id: sent.id, depth: sent.depth + 1 } : { id: newChainId(), depth: 1 };
}

/** The chain a batch runs in: that of its deepest message, so a loop is never hidden by a batch. */
export function deepestChain(chains: readonly (Chain | undefined)[]): Chain | undefined {
  let deepest: Chain | undefined;
  for (const chain of chains) if (chain && (!deepest || chain.depth > deepest.depth)) deepest = chain;
  return deepest;
}

/** Whether a delivery starting an invocation at `chain` is to be stopped: its chain is past `loopLimits.maxDepth`. */
export function isLoop(chain: Chain): boolean {
  return chain.depth > loopLimits.maxDepth;
}

/** What delivered the stopped invocation: a rule (`orders/paid`) or a queue, to function `function`. */
export interface LoopRoute {
  /** The rule or queue whose delivery was stopped. */
  via: ResourceRef;
  function: string;
}

/**
 * The resources a loop goes through, from function `route.function` back to it through
 * `route.via`, as the app's graph connects them: `function "resize"`, `bucket "uploads"`,
 * `bus "files"`, `rule files/resize`, `function "resize"`. The shortest such path; when
 * the graph holds none (it changed since), just the route.
 */
export function loopPath(graph: Graph, route: LoopRoute): string[] {
  const start = resourceId({ kind: "function", name: route.function });
  const goal = resourceId(route.via);
  const next = flowEdges(graph);
  const previous = new Map<string, string>([[start, start]]);
  const queue = [start];
  while (queue.length > 0) {
    const at = queue.shift()!;
    if (at === goal) break;
    for (const to of next.get(at) ?? []) {
      if (previous.has(to)) continue;
      previous.set(to, at);
      queue.push(to);
    }
  }
  const path = [start];
  if (previous.has(goal)) {
    path.length = 0;
    for (let at = goal; at !== start; at = previous.get(at)!) path.unshift(at);
    path.unshift(start);
  } else {
    path.push(goal);
  }
  path.push(start);
  return path.map(describeId);
}

/** Where a binding call or a delivery can carry a chain on, by resource id: links, notifications, rules, consumers. */
function flowEdges(graph: Graph): Map<string, string[]> {
  const next = new Map<string, string[]>();
  const add = (from: string, to: string) => {
    const list = next.get(from) ?? [];
    next.set(from, list);
    if (!list.includes(to)) list.push(to);
  };
  for (const edge of graph.edges) {
    // A function's call of another function is a request, which starts a chain of its own.
    if (edge.kind === "link" && edge.to.startsWith("function:")) continue;
    if (edge.kind === "link" || edge.kind === "notification" || edge.kind === "rule-target") add(edge.from, edge.to);
    if (edge.kind === "subscription") add(edge.from, edge.to);
  }
  for (const rule of resourcesOf(graph, "rule")) {
    add(resourceId({ kind: "bus", name: rule.spec.bus }), resourceId({ kind: "rule", name: rule.name }));
  }
  return next;
}

function describeId(id: string): string {
  const at = id.indexOf(":");
  const kind = id.slice(0, at);
  const name = id.slice(at + 1);
  // Rules are named `<bus>/<rule>` everywhere outside the app file, unquoted.
  return kind === "rule" ? `rule ${name}` : describeResource({ kind: kind as ResourceRef["kind"], name });
}

/**
 * The one error a stopped delivery reports, the same on every target: the chain, the
 * function it would have run, the loop's resources (`loopPath`), where the delivery went
 * (the dead-letter queue of the queue or bus that delivered it, or nowhere), and how to
 * break the loop.
 */
export function loopError(
  graph: Graph,
  chain: Chain,
  route: LoopRoute,
  /** What was stopped: `event 5b1e… (Object Created)`, `message 0192…`. */
  what: string,
): NimbusError {
  const deadLetter = loopDeadLetter(graph, route);
  const outcome = deadLetter ? `moved to the dead-letter queue "${deadLetter}"` : "dropped";
  return new NimbusError(
    "NIMBUS_FUNCTION_LOOP",
    `recursive loop stopped: function "${route.function}" would be the ${ordinal(chain.depth)} invocation of one chain ` +
      `(chain ${chain.id}), and a chain runs at most ${loopLimits.maxDepth}. The loop: ${loopPath(graph, route).join(" → ")}. ` +
      `The ${what} was not delivered; it was ${outcome}. A function that writes to, sends to or puts on what triggers it ` +
      "calls itself: write somewhere else, or narrow the trigger (a notification's prefix or suffix, a rule's pattern) " +
      "so that its own writes do not match.",
  );
}

/** The dead-letter queue of the queue, or of the rule's bus, that made the stopped delivery; undefined when none. */
function loopDeadLetter(graph: Graph, route: LoopRoute): string | undefined {
  if (route.via.kind === "queue") {
    return resourcesOf(graph, "queue").find((queue) => queue.name === route.via.name)?.spec.deadLetter ?? undefined;
  }
  const rule = resourcesOf(graph, "rule").find((r) => r.name === route.via.name);
  return resourcesOf(graph, "bus").find((bus) => bus.name === rule?.spec.bus)?.spec.deadLetter ?? undefined;
}

function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? "th" : (["th", "st", "nd", "rd"][n % 10] ?? "th");
  return `${n}${suffix}`;
}
