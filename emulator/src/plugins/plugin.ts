import type { Graph } from "@nimbus/core";

/** A call a function's worker makes on a resource it links; `args` come from the worker, so the service checks them. */
export interface ServiceCall {
  /** The calling function. */
  from: string;
  /** The linked resource's name. */
  resource: string;
  /** Plain data, or the Request of a linked function's `fetch`. */
  args: unknown;
}

export type Service = (call: ServiceCall) => Promise<unknown>;

/**
 * The one shape of every emulator plugin (Miniflare's `Plugin`): one per resource kind,
 * listed in `registry.ts`. The emulator starts them in the registry's order, hands each
 * a changed graph on reload, and empties and closes them; it never switches on kinds.
 */
export interface Plugin {
  /** The resource kind it serves, as in the graph. */
  readonly kind: string;
  /** Opens the kind's state and takes the app's first graph. */
  start(graph: Graph): Promise<void>;
  /**
   * Takes a changed graph: starts what is new, restarts what changed, stops what went;
   * state stays. Returns a line per change for the reload's log line.
   */
  apply(graph: Graph): Promise<string[]>;
  /** Called once every plugin has taken a graph (after start and each apply): work that feeds other kinds resumes here. */
  ready?(): void;
  /** Empties the kind's state in place; handles functions hold keep working. */
  reset(): Promise<void>;
  /** Stops; state stays on disk. */
  close(): Promise<void>;
  /** What a linked function may call on a resource of this kind, by method. */
  readonly services?: Readonly<Record<string, Service>>;
  /** Entries of the state folder the kind keeps open (emptied in place by `reset`, not deleted). */
  readonly stateEntries?: readonly string[];
}
