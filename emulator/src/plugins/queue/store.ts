import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { DatabaseSync, type StatementSync } from "node:sqlite";
import { formatDuration } from "@nimbus/core";
import { backoffDelay } from "./backoff.ts";

/** How a body's bytes are turned back into the value that was sent. */
export type BodyFormat = "json" | "bytes";

/** The parts of a `QueueSpec` the store acts on; all times in ms. */
export interface QueuePolicy {
  visibilityTimeout: number;
  maxAttempts: number;
  backoff: { initial: number; max: number };
  /** The queue that receives a message after `maxAttempts` deliveries; null drops it. */
  deadLetter: string | null;
  retention: number;
}

export interface OutgoingMessage {
  body: Uint8Array;
  format: BodyFormat;
  /** Ms before the message can be delivered. @default 0 */
  delay?: number;
}

export interface StoredMessage {
  id: string;
  queue: string;
  body: Uint8Array;
  format: BodyFormat;
  /** Deliveries so far, the current one included when leased. */
  attempts: number;
  /** When it was first sent (ms); kept through retries, dead-lettering and redrive. */
  firstSeen: number;
  /** Waiting: when it is (or became) deliverable. In flight: when its lease expires. */
  visibleAt: number;
  /** The error of the last failed delivery. */
  lastError?: string;
  /** For a dead-lettered message: the queue it died in. */
  deadFrom?: string;
  /** For a dead-lettered message: its deliveries in the queue it died in. */
  deadAttempts?: number;
}

export type Outcome =
  | { id: string; ack: true }
  | {
      id: string;
      /** `delay` in ms; undefined: the queue's back-off. */
      retry: { delay?: number; error?: string };
    };

export interface SettleResult {
  acked: string[];
  retried: string[];
  deadLettered: string[];
  dropped: string[];
}

/**
 * The ids of the messages whose lease expired, and which of them were retried, moved to
 * the dead-letter queue or dropped (so the caller can log the drops, as after `settle`).
 */
export type ExpiredLeases = string[] & Omit<SettleResult, "acked">;

export interface QueueStats {
  /** Deliverable now, not leased. */
  depth: number;
  /** Leased. */
  inFlight: number;
  /** Not deliverable yet (a delay or a back-off). */
  delayed: number;
  /** Messages that died in this queue and now wait in its dead-letter queue. */
  deadLettered: number;
}

// A message is in exactly one state; each has an index shaped for the question asked of it.
const delayed = 0; // waiting until visible_at
const ready = 1; // deliverable since visible_at
const leased = 2; // in flight until visible_at

const schema = `
CREATE TABLE IF NOT EXISTS messages (
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  queue TEXT NOT NULL,
  state INTEGER NOT NULL,
  visible_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  first_seen INTEGER NOT NULL,
  lease TEXT,
  last_error TEXT,
  dead_from TEXT,
  dead_attempts INTEGER,
  format TEXT NOT NULL,
  body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (queue, state, visible_at);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, seq) WHERE state = ${ready};
CREATE INDEX IF NOT EXISTS messages_age ON messages (queue, first_seen);
CREATE INDEX IF NOT EXISTS messages_dead ON messages (queue, seq) WHERE dead_from IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_dead_from ON messages (dead_from) WHERE dead_from IS NOT NULL;
`;

const columns = "seq, id, queue, visible_at, attempts, first_seen, last_error, dead_from, dead_attempts, format, body";

interface MessageRow {
  seq: number;
  id: string;
  queue: string;
  visible_at: number;
  attempts: number;
  first_seen: number;
  last_error: string | null;
  dead_from: string | null;
  dead_attempts: number | null;
  format: BodyFormat;
  body: Uint8Array;
}

interface HeldRow {
  seq: number;
  id: string;
  queue: string;
  attempts: number;
}

/**
 * Every queue of one emulator in one SQLite file (WAL), so that moving a message to a
 * dead-letter queue is one transaction. Each method is one transaction, and every
 * method that depends on time takes `now` (ms since the epoch), so tests drive the clock.
 *
 * Send order is `seq`, the rowid: a new row always gets a number above every row
 * present, so "oldest first" holds among the messages that exist. Delayed messages
 * become `ready` when a lease looks at a time past their `visible_at`; a lease then
 * reads the ready ones in `seq` order with a LIMIT, so no call loads a whole queue.
 *
 * A lease is a random id written on each message it holds, with its expiry in
 * `visible_at`. Everything, leases included, is on disk: a new store on the same file
 * (another thread, or the next process after a kill -9) sees exactly what was committed,
 * and a message in flight in a process that died becomes deliverable again when its
 * lease expires. An ack deletes the row, so an acked message can never come back.
 */
export class QueueStore {
  readonly #db: DatabaseSync;
  readonly #random: () => number;
  readonly #sql: Record<
    | "begin"
    | "commit"
    | "rollback"
    | "insert"
    | "promote"
    | "lease"
    | "held"
    | "delete"
    | "retry"
    | "deadLetter"
    | "expired"
    | "nextDue"
    | "dropExpired"
    | "stats"
    | "deadLettered"
    | "deadCounts"
    | "redrive"
    | "clear",
    StatementSync
  >;

  /** Opens (and creates, with its folder) the store in `file`. */
  constructor(options: { file: string; random?: () => number }) {
    this.#random = options.random ?? Math.random;
    mkdirSync(dirname(options.file), { recursive: true });
    this.#db = new DatabaseSync(options.file);
    // A commit is durable once written to the WAL; the OS keeps it through a killed
    // process. Only power loss could lose the last commits, which the store does not promise.
    this.#db.exec("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;");
    this.#db.exec(schema);
    const prepare = (sql: string) => this.#db.prepare(sql);
    this.#sql = {
      begin: prepare("BEGIN IMMEDIATE"),
      commit: prepare("COMMIT"),
      rollback: prepare("ROLLBACK"),
      insert: prepare(
        "INSERT INTO messages (id, queue, state, visible_at, attempts, first_seen, format, body) VALUES (?, ?, ?, ?, 0, ?, ?, ?)",
      ),
      promote: prepare(
        `UPDATE messages SET state = ${ready} WHERE queue = ? AND state = ${delayed} AND visible_at <= ?`,
      ),
      lease: prepare(
        `UPDATE messages SET state = ${leased}, lease = ?, visible_at = ?, attempts = attempts + 1
         WHERE seq IN (SELECT seq FROM messages WHERE queue = ? AND state = ${ready} ORDER BY seq LIMIT ?)
         RETURNING ${columns}`,
      ),
      held: prepare(
        `SELECT seq, id, queue, attempts FROM messages WHERE id = ? AND lease = ? AND state = ${leased} AND visible_at > ?`,
      ),
      delete: prepare("DELETE FROM messages WHERE seq = ?"),
      retry: prepare("UPDATE messages SET state = ?, visible_at = ?, lease = NULL, last_error = ? WHERE seq = ?"),
      // In an UPDATE every expression reads the row as it was: dead_from gets the old queue.
      deadLetter: prepare(
        `UPDATE messages SET queue = ?, state = ${ready}, visible_at = ?, lease = NULL, last_error = ?,
           dead_from = queue, dead_attempts = attempts, attempts = 0
         WHERE seq = ?`,
      ),
      expired: prepare(
        `SELECT seq, id, queue, attempts FROM messages WHERE queue = ? AND state = ${leased} AND visible_at <= ?
         ORDER BY visible_at, seq`,
      ),
      nextDue: prepare(
        `SELECT min(due) AS due FROM (
           SELECT min(visible_at) AS due FROM messages WHERE queue = ?1 AND state = ${delayed} AND visible_at > ?2
           UNION ALL SELECT min(visible_at) FROM messages WHERE queue = ?1 AND state = ${ready} AND visible_at > ?2
           UNION ALL SELECT min(visible_at) FROM messages WHERE queue = ?1 AND state = ${leased} AND visible_at > ?2)`,
      ),
      dropExpired: prepare("DELETE FROM messages WHERE queue = ? AND first_seen <= ? RETURNING id"),
      // One statement, so the four counts come from one snapshot even while another thread writes.
      stats: prepare(
        `SELECT
           (SELECT count(*) FROM messages WHERE queue = ?1 AND state = ${ready})
             + (SELECT count(*) FROM messages WHERE queue = ?1 AND state = ${delayed} AND visible_at <= ?2) AS depth,
           (SELECT count(*) FROM messages WHERE queue = ?1 AND state = ${leased}) AS inFlight,
           (SELECT count(*) FROM messages WHERE queue = ?1 AND state = ${delayed} AND visible_at > ?2) AS delayed,
           (SELECT count(*) FROM messages WHERE dead_from = ?1) AS deadLettered`,
      ),
      deadLettered: prepare(
        `SELECT ${columns} FROM messages WHERE queue = ? AND dead_from IS NOT NULL ORDER BY seq LIMIT ?`,
      ),
      deadCounts: prepare(
        "SELECT dead_from AS source, count(*) AS count FROM messages WHERE queue = ? AND dead_from IS NOT NULL GROUP BY dead_from",
      ),
      redrive: prepare(
        `UPDATE messages SET queue = dead_from, state = ${ready}, visible_at = ?, attempts = 0, lease = NULL,
           dead_from = NULL, dead_attempts = NULL
         WHERE queue = ? AND dead_from IS NOT NULL`,
      ),
      clear: prepare("DELETE FROM messages"),
    };
  }

  /** Appends messages in order (one transaction); returns their ids. */
  send(queue: string, messages: readonly OutgoingMessage[], now: number): string[] {
    const ids: string[] = [];
    this.#transaction(() => {
      for (const message of messages) {
        const id = randomUUID();
        const delay = Math.max(0, message.delay ?? 0);
        this.#sql.insert.run(id, queue, delay > 0 ? delayed : ready, now + delay, now, message.format, message.body);
        ids.push(id);
      }
    });
    return ids;
  }

  /**
   * Leases up to `max` messages of `queue` deliverable at `now`, oldest first by send
   * order, each in flight until `now + visibilityTimeout`, its delivery counted.
   */
  lease(queue: string, max: number, now: number, policy: QueuePolicy): { lease: string; messages: StoredMessage[] } {
    const lease = randomUUID();
    let rows: MessageRow[] = [];
    // A negative LIMIT means no limit in SQLite.
    const limit = Math.max(0, Math.floor(max));
    this.#transaction(() => {
      this.#sql.promote.run(queue, now);
      if (limit === 0) return;
      rows = this.#sql.lease.all(lease, now + policy.visibilityTimeout, queue, limit) as unknown as MessageRow[];
    });
    // RETURNING comes in no particular order.
    rows.sort((a, b) => a.seq - b.seq);
    return { lease, messages: rows.map(toMessage) };
  }

  /**
   * Settles messages of `lease` still held at `now`. A message whose lease expired (at
   * `now` ≥ its `visibleAt`), that was re-leased, or that is not in the lease is left
   * alone: its outcome is too late. Of several outcomes for one message the first counts.
   */
  settle(lease: string, outcomes: readonly Outcome[], now: number, policy: QueuePolicy): SettleResult {
    const result: SettleResult = { acked: [], retried: [], deadLettered: [], dropped: [] };
    this.#transaction(() => {
      for (const outcome of outcomes) {
        const row = this.#sql.held.get(outcome.id, lease, now) as HeldRow | undefined;
        if (!row) continue;
        if ("ack" in outcome) {
          this.#sql.delete.run(row.seq);
          result.acked.push(row.id);
        } else {
          this.#fail(row, now, policy, outcome.retry.error ?? "retried", outcome.retry.delay, result);
        }
      }
    });
    return result;
  }

  /**
   * Every in-flight message of `queue` whose lease expired at `now` counts as a failed
   * delivery, retried under the same rules as `settle`'s retry (back-off, dead letter).
   */
  expireLeases(queue: string, now: number, policy: QueuePolicy): ExpiredLeases {
    const result: SettleResult = { acked: [], retried: [], deadLettered: [], dropped: [] };
    const ids: string[] = [];
    this.#transaction(() => {
      for (const row of this.#sql.expired.all(queue, now) as unknown as HeldRow[]) {
        const error = `visibility timeout expired (delivery ${row.attempts} was not settled within ${formatDuration(policy.visibilityTimeout)})`;
        this.#fail(row, now, policy, error, undefined, result);
        ids.push(row.id);
      }
    });
    return Object.assign(ids, { retried: result.retried, deadLettered: result.deadLettered, dropped: result.dropped });
  }

  /**
   * The earliest time at which something of `queue` is due: the smallest `visibleAt` of a
   * waiting message (in the past when one is deliverable now) or of a lease's expiry;
   * undefined when the queue holds nothing. With `after`, only times after it count: what
   * wakes a queue whose due work has been started.
   */
  nextDue(queue: string, after = Number.NEGATIVE_INFINITY): number | undefined {
    const row = this.#sql.nextDue.get(queue, after) as { due: number | null };
    return row.due ?? undefined;
  }

  /** Drops the messages of `queue` (in any state) first sent `retention` or longer ago; returns their ids. */
  dropExpired(queue: string, now: number, policy: QueuePolicy): string[] {
    let ids: string[] = [];
    this.#transaction(() => {
      ids = (this.#sql.dropExpired.all(queue, now - policy.retention) as { id: string }[]).map((row) => row.id);
    });
    return ids;
  }

  stats(queue: string, now: number): QueueStats {
    return { ...(this.#sql.stats.get(queue, now) as unknown as QueueStats) };
  }

  /** Messages that died elsewhere and wait in `deadLetter` (or are being delivered from it), oldest first. */
  deadLettered(deadLetter: string, limit = 100): StoredMessage[] {
    const rows = this.#sql.deadLettered.all(deadLetter, Math.max(0, Math.floor(limit))) as unknown as MessageRow[];
    return rows.map(toMessage);
  }

  /**
   * Moves every dead-lettered message in `deadLetter` (a lease on it is cancelled) back to
   * the queue it died in, deliverable at `now`, attempts reset to 0; returns the count per
   * queue. Messages keep their send order and first-seen time.
   */
  redrive(deadLetter: string, now: number): Record<string, number> {
    const counts: Record<string, number> = {};
    this.#transaction(() => {
      for (const row of this.#sql.deadCounts.all(deadLetter) as { source: string; count: number }[]) {
        counts[row.source] = row.count;
      }
      this.#sql.redrive.run(now, deadLetter);
    });
    return counts;
  }

  /** Empties every queue. */
  clear(): void {
    this.#transaction(() => {
      this.#sql.clear.run();
    });
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** A failed delivery: back to the queue after a delay, or on to the dead-letter queue, or dropped. */
  #fail(
    row: HeldRow,
    now: number,
    policy: QueuePolicy,
    error: string,
    delay: number | undefined,
    result: SettleResult,
  ): void {
    if (row.attempts >= policy.maxAttempts) {
      if (policy.deadLetter === null) {
        this.#sql.delete.run(row.seq);
        result.dropped.push(row.id);
      } else {
        this.#sql.deadLetter.run(policy.deadLetter, now, error, row.seq);
        result.deadLettered.push(row.id);
      }
      return;
    }
    const wait = Math.max(0, delay ?? backoffDelay(policy, row.attempts, this.#random));
    this.#sql.retry.run(wait > 0 ? delayed : ready, now + wait, error, row.seq);
    result.retried.push(row.id);
  }

  #transaction(work: () => void): void {
    this.#sql.begin.run();
    try {
      work();
      this.#sql.commit.run();
    } catch (error) {
      this.#sql.rollback.run();
      throw error;
    }
  }
}

function toMessage(row: MessageRow): StoredMessage {
  const message: StoredMessage = {
    id: row.id,
    queue: row.queue,
    body: row.body,
    format: row.format,
    attempts: row.attempts,
    firstSeen: row.first_seen,
    visibleAt: row.visible_at,
  };
  if (row.last_error !== null) message.lastError = row.last_error;
  if (row.dead_from !== null) message.deadFrom = row.dead_from;
  if (row.dead_attempts !== null) message.deadAttempts = row.dead_attempts;
  return message;
}
