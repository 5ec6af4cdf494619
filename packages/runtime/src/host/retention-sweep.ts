/**
 * Retention for a queue no function consumes (docs/semantics.md "Queues" retention/1 and
 * retention/2), run by the control role beside the mover of its delayed messages.
 *
 * Where a function consumes a queue, its host checks retention whenever it pulls a
 * message (queue.ts "Retention"), and the stream's `max_age` is only a backstop. Nobody
 * pulls from an unconsumed queue (a dead-letter queue, typically), and `max_age` counts
 * from when a copy was stored there: a dead letter would stay its retention after its
 * death instead of after its first send. So the sweep deletes, by sequence, each stored
 * message whose `Nimbus-First-Seen` + `retention` has passed, delayed or not.
 *
 * It reads each stored message once: every message on start (a restart rescans), then
 * only the sequences stored since, when the stream's `last_seq` has grown (checked every
 * `interval`). What is not due yet waits in a heap by due time under one timer armed for
 * the earliest, so a drop comes within about a second of its moment and a big dead-letter
 * queue is neither rescanned nor polled. A message gone meanwhile (moved by the delays
 * mover, redriven, acked) is skipped without a line. Safe to run in several control
 * hosts at once: a delete succeeds once, and only that one logs.
 *
 * Rights: `$JS.API.STREAM.INFO`, `.MSG.GET` and `.MSG.DELETE` of the queue's stream
 * (core's `natsPermissions`, the control user).
 */
import { JetStreamApiError, type JetStreamManager, type MsgRequest } from "@nats-io/jetstream";
import { formatDuration, type QueueStreamNames } from "@nimbus/core";
import { fromHeaders } from "./queue-headers.ts";

/**
 * The retention rule, one for every path that drops (the pull-time check in queue.ts and
 * this sweep): a message is dropped once `retention` has passed since its first send.
 */
export function retentionPassed(firstSeen: number, retention: number, now: number): boolean {
  return now - firstSeen >= retention;
}

/** The log line of a message dropped on retention, the same from every path. */
export function retentionDropLine(queue: string, id: string, retention: number): string {
  return `queue "${queue}": message ${id} dropped: its retention (${formatDuration(retention)}) passed since it was first sent`;
}

export interface RetentionSweepOptions {
  /** A manager on an open connection; the sweep does not close it. */
  jsm: JetStreamManager;
  /** The queue's name, for the log lines. */
  queue: string;
  /** The queue's JetStream names (`JetStreamQueues.names(queue)`). */
  names: QueueStreamNames;
  /** The queue's `retention` (ms). */
  retention: number;
  /** Where drops and failures are reported. */
  log: (line: string) => void;
  /**
   * How often the stream's last sequence is checked for messages stored since the last read (ms).
   * @default 1000
   */
  interval?: number;
}

/** A running sweep. */
export interface RetentionSweep {
  /** Stops scanning and dropping; resolves once the scan or drops in hand ended. */
  stop(): Promise<void>;
}

/** A stored message waiting for its retention to pass. */
interface Due {
  firstSeen: number;
  seq: number;
  id: string;
}

/** How many deletes go out at once. */
const dropGroup = 64;
/** setTimeout's longest delay; a later due time is re-armed when this one fires. */
const maxTimer = 2 ** 31 - 1;

/** Starts sweeping the stream of the queue `options.names` names; see the top of this file. */
export function sweepRetention(options: RetentionSweepOptions): RetentionSweep {
  const { jsm, queue, names, retention, log } = options;
  const interval = options.interval ?? 1_000;
  const heap = new DueHeap();
  /** The next sequence to read: everything before it has been read once. */
  let next = 1;
  let stopping = false;
  let failing = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  /** After a failed drop: no drop is tried before. */
  let retryAt = 0;
  let armedAt = Number.POSITIVE_INFINITY;
  let scanning: Promise<void> = Promise.resolve();
  let dropping: Promise<void> = Promise.resolve();

  const failed = (what: string, error: unknown) => {
    if (failing || stopping) return;
    failing = true;
    log(`queue "${queue}": ${what} failed, trying again: ${(error as Error).message}`);
  };

  /** Deletes one message; false when it was gone already. */
  const drop = async (due: Due): Promise<boolean> => {
    try {
      return await jsm.streams.deleteMessage(names.stream, due.seq, false);
    } catch (error) {
      if (error instanceof JetStreamApiError) return false;
      throw error;
    }
  };

  const dropDue = async () => {
    retryAt = 0;
    const now = Date.now();
    while (!stopping && heap.peek() && retentionPassed(heap.peek()!.firstSeen, retention, now)) {
      // Deletes go out in groups, so many messages due at once (a restart after a long stop) still go soon.
      const group: Due[] = [];
      while (group.length < dropGroup && heap.peek() && retentionPassed(heap.peek()!.firstSeen, retention, now)) {
        group.push(heap.pop()!);
      }
      const results = await Promise.allSettled(group.map(drop));
      const error = results.find((result) => result.status === "rejected")?.reason;
      for (const [i, result] of results.entries()) {
        if (result.status === "fulfilled" && result.value) log(retentionDropLine(queue, group[i]!.id, retention));
        // The server is away: tried again after an interval.
        else if (result.status === "rejected") heap.push(group[i]!);
      }
      if (error !== undefined) {
        failed("dropping a message past its retention", error);
        retryAt = Date.now() + interval;
        break;
      }
    }
    arm();
  };

  const arm = () => {
    const first = heap.peek();
    if (stopping || !first) return;
    const at = Math.max(first.firstSeen + retention, retryAt);
    if (at >= armedAt) return;
    clearTimeout(timer);
    armedAt = at;
    timer = setTimeout(
      () => {
        armedAt = Number.POSITIVE_INFINITY;
        timer = undefined;
        dropping = dropping.then(dropDue);
      },
      Math.min(Math.max(0, at - Date.now()), maxTimer),
    );
  };

  /** Reads every message stored from `next` on, once. */
  const scan = async () => {
    const { state } = await jsm.streams.info(names.stream);
    if (state.last_seq < next) return;
    let seq = Math.max(next, state.first_seq);
    while (!stopping) {
      // Servers since 2.9 take `next_by_subj` on the (non-direct) get; the client types only list it for direct gets.
      const request = { next_by_subj: names.subjects, seq } as unknown as MsgRequest;
      const stored = await jsm.streams.getMessage(names.stream, request);
      if (!stored) {
        next = Math.max(seq, state.last_seq + 1);
        break;
      }
      const carried = fromHeaders(stored.header);
      heap.push({ firstSeen: carried.firstSeen, seq: stored.seq, id: carried.id });
      seq = stored.seq + 1;
      next = seq;
    }
    arm();
  };

  const tick = async () => {
    try {
      await scan();
      failing = false;
    } catch (error) {
      failed("reading the stream for retention", error);
      // What was read stays read; the rest comes at the next interval.
      arm();
    }
  };

  let busy = false;
  const read = () => {
    // One scan at a time: a slow one (a big stream on start) is neither overtaken nor queued behind.
    if (busy) return;
    busy = true;
    scanning = tick().finally(() => {
      busy = false;
    });
  };
  read();
  const poller = setInterval(read, interval);

  return {
    stop: async () => {
      stopping = true;
      clearInterval(poller);
      clearTimeout(timer);
      await scanning;
      await dropping;
    },
  };
}

/** A binary min-heap by first send, which is due time order. */
class DueHeap {
  readonly #items: Due[] = [];

  peek(): Due | undefined {
    return this.#items[0];
  }

  push(item: Due): void {
    const items = this.#items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (items[parent]!.firstSeen <= items[i]!.firstSeen) break;
      [items[parent], items[i]] = [items[i]!, items[parent]!];
      i = parent;
    }
  }

  pop(): Due | undefined {
    const items = this.#items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let least = i;
      if (left < items.length && items[left]!.firstSeen < items[least]!.firstSeen) least = left;
      if (right < items.length && items[right]!.firstSeen < items[least]!.firstSeen) least = right;
      if (least === i) break;
      [items[least], items[i]] = [items[i]!, items[least]!];
      i = least;
    }
    return top;
  }
}
