import { type QueueSpec, unknownResource } from "@nimbus/core";
import type { bodyCheck } from "@nimbus/runtime/target";
import type { Consumer, DeliveryQueue } from "./consumer.ts";
import type { QueuePolicy } from "./store.ts";

/** A queue as the emulator runs it: the app's, or a delivery queue of a rule or schedule route. */
export interface RunningQueue {
  name: string;
  /** The app's queues only; undefined for delivery queues. */
  spec?: QueueSpec;
  /** For delivery queues: the route as people read it. */
  label?: string;
  policy: QueuePolicy;
  consumer?: Consumer;
  /** Checks JSON bodies against the queue's schema, when it has one. */
  check: ReturnType<typeof bodyCheck>;
  /** For delivery queues: how to name a message, and why there is no dead-letter queue. */
  describe?: DeliveryQueue["describe"];
  noDeadLetter?: string;
  /** Batches being delivered now. */
  running: number;
  /** Since when a partial batch has been waiting for `maxBatchWait`. */
  waitingSince?: number;
  /** The clock timer that wakes this queue next, and when. */
  wake?: { at: number; cancel: () => void };
}

/** Who declared a delivery queue. */
export type DeliveryOwner = "bus" | "schedule";

/**
 * The running queues by name: the app's and the delivery queues of the bus and the
 * schedules. Replacing a set keeps the running state (batches, waits) of those that stay.
 */
export class RunningQueues {
  readonly #queues = new Map<string, RunningQueue>();
  /** Which plugin declared each delivery queue. */
  readonly #owners = new Map<string, DeliveryOwner>();

  get(name: string): RunningQueue | undefined {
    return this.#queues.get(name);
  }

  all(): IterableIterator<RunningQueue> {
    return this.#queues.values();
  }

  /** The delivery queues' names. */
  deliveries(): string[] {
    return [...this.#owners.keys()];
  }

  /** The app's queues, by name (delivery queues are not among them). */
  names(): string[] {
    return [...this.#queues.values()]
      .filter((queue) => queue.spec !== undefined)
      .map((queue) => queue.name)
      .sort();
  }

  /** The app's queue `name`; throws, naming the app's queues, when there is none. */
  require(name: string): RunningQueue & { spec: QueueSpec } {
    const queue = this.#queues.get(name);
    if (!queue?.spec) throw unknownResource("queue", name, this.names());
    return queue as RunningQueue & { spec: QueueSpec };
  }

  /** Replaces the app's queues with `wanted`; returns the queues to wake. */
  replaceApp(wanted: readonly Omit<RunningQueue, "running">[]): readonly Omit<RunningQueue, "running">[] {
    return this.#replace((queue) => queue.spec !== undefined, wanted);
  }

  /** Replaces `owner`'s delivery queues with `wanted`; returns the queues to wake. */
  replaceDeliveries(owner: DeliveryOwner, wanted: readonly DeliveryQueue[]): readonly Omit<RunningQueue, "running">[] {
    const mine = (queue: RunningQueue) => this.#owners.get(queue.name) === owner;
    for (const delivery of wanted) this.#owners.set(delivery.name, owner);
    return this.#replace(
      mine,
      wanted.map((delivery) => ({ ...delivery, check: undefined })),
    );
  }

  #replace(
    mine: (queue: RunningQueue) => boolean,
    wanted: readonly Omit<RunningQueue, "running">[],
  ): readonly Omit<RunningQueue, "running">[] {
    const names = new Set(wanted.map((queue) => queue.name));
    for (const [name, queue] of this.#queues) {
      if (mine(queue) && !names.has(name)) {
        queue.wake?.cancel();
        this.#queues.delete(name);
        this.#owners.delete(name);
      }
    }
    for (const next of wanted) {
      const current = this.#queues.get(next.name);
      if (current) Object.assign(current, { ...next, running: current.running });
      else this.#queues.set(next.name, { ...next, running: 0 });
    }
    return wanted;
  }
}
