import { randomUUID } from "node:crypto";
import { mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import {
  type Chain,
  type DeliveryPolicy,
  type DeliveryRoute,
  decideDelivery,
  deliveryRoute,
  formatChain,
  formatDuration,
  parseChain,
  type QueueSpec,
} from "@nimbus/core";
import { openDatabase, transactions } from "@nimbus/store";

/** How a body's bytes are turned back into the value that was sent. */
export type BodyFormat = "json" | "bytes";

/** The parts of a `QueueSpec` the store acts on; all times in ms. */
export interface QueuePolicy extends DeliveryPolicy {
  visibilityTimeout: number;
  retention: number;
}

export interface OutgoingMessage {
  body: Uint8Array;
  format: BodyFormat;
  /** Ms before the message can be delivered. @default 0 */
  delay?: number;
  /** The chain of the invocation that sent it (docs/semantics.md, "Recursive loops"); absent from outside one. */
  chain?: Chain;
}

/** One message of an `enqueue`: for a queue, or straight into a dead-letter queue. */
export interface Enqueued {
  queue: string;
  message: OutgoingMessage;
  /** Stores it as dead-lettered from `from` (a delivery that can never succeed), with the error. */
  dead?: { from: string; error: string };
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
  /** The chain of the invocation that sent it; absent from outside one, and after a redrive. */
  chain?: Chain;
}

export type Outcome =
  | { id: string; ack: true }
  | {
      id: string;
      /**
       * `delay` in ms; undefined: the queue's back-off. `final`: it can never succeed, so
       * it goes to the dead-letter queue (or is dropped) now, whatever its attempts.
       */
      retry: { delay?: number; error?: string; final?: boolean };
    };

export interface SettleResult {
  acked: string[];
  retried: string[];
  deadLettered: string[];
  dropped: string[];
  /** The bodies of the dead-lettered and dropped messages, by id, to say what ended there. */
  bodies: Map<string, Uint8Array>;
}

/** What `expireLeasesDetailed` did: every expired message, and where each one went. */
export interface ExpiredLeases extends Omit<SettleResult, "acked"> {
  /** In the order their leases expired. */
  expired: string[];
}

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
  id TEXT NOT NULL,
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
  body BLOB NOT NULL,
  chain TEXT
);
CREATE INDEX IF NOT EXISTS messages_due ON messages (queue, state, visible_at);
CREATE INDEX IF NOT EXISTS messages_ready ON messages (queue, seq) WHERE state = ${ready};
CREATE INDEX IF NOT EXISTS messages_age ON messages (queue, first_seen);
CREATE INDEX IF NOT EXISTS messages_dead ON messages (queue, seq) WHERE dead_from IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_dead_from ON messages (dead_from) WHERE dead_from IS NOT NULL;
CREATE TABLE IF NOT EXISTS ticks (
  schedule TEXT PRIMARY KEY,
  at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS routes (
  key TEXT PRIMARY KEY,
  label TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS queue_specs (
  name TEXT PRIMARY KEY,
  spec TEXT NOT NULL
);
`;

/**
 * `PRAGMA user_version` of a file in this layout. 0, the first layout, gave messages
 * random v4 UUIDs; 1 keyed delivery queues by their label (`orders/paid → function fulfil`).
 */
const layout = 2;

const columns =
  "seq, id, queue, visible_at, attempts, first_seen, last_error, dead_from, dead_attempts, format, body, chain";

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
  chain: string | null;
}

interface HeldRow {
  seq: number;
  id: string;
  queue: string;
  attempts: number;
}

/** Where the queue store of the emulator with state folder `stateDir` lives. */
export function queueStoreFile(stateDir: string): string {
  return join(stateDir, "queues", "queues.sqlite");
}

/**
 * Every queue of one emulator in one SQLite file (WAL), so that moving a message to a
 * dead-letter queue is one transaction. Each method is one transaction, and every
 * method that depends on time takes `now` (ms since the epoch), so tests drive the clock.
 *
 * Send order is `seq`, the rowid: a new row always gets a number above every row
 * present, so "oldest first" holds among the messages that exist. A message's id is a
 * UUID (version 8) that carries its `seq` in its first 48 bits and 74 random bits after
 * them: a settle finds the row by its key and checks the whole id, and no index on a
 * random text slows every send down (it halved the rate of sends). Delayed messages
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
  readonly #transaction: (work: () => void) => void;
  readonly #random: () => number;
  /**
   * The delivery queues this open renamed from their label to their key (a file of layout
   * 1 or older), by label; empty when there were none. Said once, by whoever opened it.
   */
  readonly renamedRoutes: string[] = [];
  readonly #sql: Record<
    | "last"
    | "insert"
    | "insertDead"
    | "tick"
    | "lastTick"
    | "promote"
    | "lease"
    | "held"
    | "delete"
    | "retry"
    | "deadLetter"
    | "expired"
    | "nextDue"
    | "readyCount"
    | "oldestDeliverable"
    | "oldest"
    | "dropExpired"
    | "stats"
    | "deadLettered"
    | "deadCounts"
    | "redrive"
    | "clear"
    | "purge"
    | "clearTicks"
    | "body"
    | "readyQueues"
    | "nameRoute"
    | "routeLabel"
    | "publishedSpec"
    | "publishedNames",
    StatementSync
  >;

  /** Opens (and creates, with its folder) the store in `file`. */
  constructor(options: { file: string; random?: () => number }) {
    this.#random = options.random ?? Math.random;
    mkdirSync(dirname(options.file), { recursive: true });
    this.#db = openDatabase(options.file);
    this.#transaction = transactions(this.#db);
    this.#db.exec(schema);
    addChainColumn(this.#db);
    const prepare = (sql: string) => this.#db.prepare(sql);
    this.#sql = {
      last: prepare("SELECT coalesce(max(seq), 0) AS seq FROM messages"),
      insert: prepare(
        "INSERT INTO messages (seq, id, queue, state, visible_at, attempts, first_seen, format, body, chain) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?)",
      ),
      insertDead: prepare(
        `INSERT INTO messages (seq, id, queue, state, visible_at, attempts, first_seen, format, body, last_error, dead_from, dead_attempts, chain)
         VALUES (?, ?, ?, ${ready}, ?, 0, ?, ?, ?, ?, ?, 1, ?)`,
      ),
      tick: prepare(
        "INSERT INTO ticks (schedule, at) VALUES (?, ?) ON CONFLICT (schedule) DO UPDATE SET at = max(at, excluded.at)",
      ),
      lastTick: prepare("SELECT at FROM ticks WHERE schedule = ?"),
      promote: prepare(
        `UPDATE messages SET state = ${ready} WHERE queue = ? AND state = ${delayed} AND visible_at <= ?`,
      ),
      lease: prepare(
        `UPDATE messages SET state = ${leased}, lease = ?, visible_at = ?, attempts = attempts + 1
         WHERE seq IN (SELECT seq FROM messages WHERE queue = ? AND state = ${ready} ORDER BY seq LIMIT ?)
         RETURNING ${columns}`,
      ),
      held: prepare(
        `SELECT seq, id, queue, attempts FROM messages
         WHERE seq = ? AND id = ? AND lease = ? AND state = ${leased} AND visible_at > ?`,
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
      readyCount: prepare(
        `SELECT
           (SELECT count(*) FROM (SELECT 1 FROM messages WHERE queue = ?1 AND state = ${ready} LIMIT ?3))
             + (SELECT count(*) FROM (SELECT 1 FROM messages WHERE queue = ?1 AND state = ${delayed} AND visible_at <= ?2 LIMIT ?3))
             AS count`,
      ),
      oldest: prepare("SELECT min(first_seen) AS oldest FROM messages WHERE queue = ?"),
      oldestDeliverable: prepare(
        `SELECT min(visible_at) AS at FROM messages
         WHERE queue = ?1 AND (state = ${ready} OR (state = ${delayed} AND visible_at <= ?2))`,
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
           dead_from = NULL, dead_attempts = NULL, chain = NULL
         WHERE queue = ? AND dead_from IS NOT NULL`,
      ),
      clear: prepare("DELETE FROM messages"),
      purge: prepare("DELETE FROM messages WHERE queue = ?"),
      clearTicks: prepare("DELETE FROM ticks"),
      body: prepare("SELECT body FROM messages WHERE seq = ?"),
      nameRoute: prepare(
        "INSERT INTO routes (key, label) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET label = excluded.label WHERE label <> excluded.label",
      ),
      routeLabel: prepare("SELECT label FROM routes WHERE key = ?"),
      publishedSpec: prepare("SELECT spec FROM queue_specs WHERE name = ?"),
      publishedNames: prepare("SELECT name FROM queue_specs ORDER BY name"),
      // One seek per queue in the partial index of ready messages, however many wait in each.
      readyQueues: prepare(
        `WITH RECURSIVE ready(name) AS (
           SELECT min(queue) FROM messages WHERE state = ${ready}
           UNION ALL
           SELECT (SELECT min(queue) FROM messages WHERE state = ${ready} AND queue > ready.name) FROM ready
           WHERE ready.name IS NOT NULL)
         SELECT name FROM ready WHERE name IS NOT NULL`,
      ),
    };
    this.#upgrade();
  }

  /** Appends messages in order (one transaction); returns their ids. */
  send(queue: string, messages: readonly OutgoingMessage[], now: number): string[] {
    return this.enqueue(
      messages.map((message) => ({ queue, message })),
      now,
    );
  }

  /**
   * Appends messages to any queues in one transaction, all or none: what one bus `put` or
   * one schedule tick delivers. With `tick`, also records that schedule's tick as fired, so
   * a restart never fires it again. Returns the ids, in order.
   */
  enqueue(items: readonly Enqueued[], now: number, tick?: { schedule: string; at: number }): string[] {
    let ids: string[] = [];
    this.#transaction(() => {
      ids = this.#append(items, now, tick);
    });
    return ids;
  }

  /**
   * Publishes the app's queues (name and spec), replacing what was published: what a
   * function's worker checks its sends against (`sendAsPublished`).
   */
  publishSpecs(queues: readonly { name: string; spec: QueueSpec }[]): void {
    this.#transaction(() => {
      this.#db.exec("DELETE FROM queue_specs");
      const insert = this.#db.prepare("INSERT INTO queue_specs (name, spec) VALUES (?, ?)");
      for (const { name, spec } of queues) insert.run(name, JSON.stringify(spec));
    });
  }

  /**
   * `send` from another thread than the emulator's: in the same transaction, `check` is
   * given queue `queue`'s published spec as JSON (undefined when the app has no such queue)
   * and the published names, and may throw to refuse the send, or return false to store
   * nothing (then undefined is returned). So a send is checked against the spec it is
   * stored under, also while the app reloads.
   */
  sendAsPublished(
    queue: string,
    messages: readonly OutgoingMessage[],
    now: number,
    check: (spec: string | undefined, names: () => string[]) => boolean,
  ): string[] | undefined {
    let ids: string[] | undefined;
    this.#transaction(() => {
      const row = this.#sql.publishedSpec.get(queue) as { spec: string } | undefined;
      if (!check(row?.spec, () => (this.#sql.publishedNames.all() as { name: string }[]).map((r) => r.name))) return;
      ids = this.#append(
        messages.map((message) => ({ queue, message })),
        now,
      );
    });
    return ids;
  }

  /** `enqueue`'s rows, inside its transaction. */
  #append(items: readonly Enqueued[], now: number, tick?: { schedule: string; at: number }): string[] {
    const ids: string[] = [];
    // The write lock is held from BEGIN IMMEDIATE: no other writer can take these numbers.
    let seq = (this.#sql.last.get() as { seq: number }).seq;
    for (const { queue, message, dead } of items) {
      const id = messageId(++seq);
      const chain = message.chain ? formatChain(message.chain) : null;
      if (dead) {
        this.#sql.insertDead.run(seq, id, queue, now, now, message.format, message.body, dead.error, dead.from, chain);
      } else {
        const delay = Math.max(0, message.delay ?? 0);
        this.#sql.insert.run(
          seq,
          id,
          queue,
          delay > 0 ? delayed : ready,
          now + delay,
          now,
          message.format,
          message.body,
          chain,
        );
      }
      ids.push(id);
    }
    if (tick) this.#sql.tick.run(tick.schedule, tick.at);
    return ids;
  }

  /** The queues holding a message that is ready for delivery (not delayed, not in flight). */
  readyQueues(): string[] {
    return (this.#sql.readyQueues.all() as { name: string }[]).map((row) => row.name);
  }

  /** The latest tick of `schedule` recorded by `enqueue`, in ms; undefined before its first. */
  lastTick(schedule: string): number | undefined {
    return (this.#sql.lastTick.get(schedule) as { at: number } | undefined)?.at;
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
    const result: SettleResult = { acked: [], retried: [], deadLettered: [], dropped: [], bodies: new Map() };
    this.#transaction(() => {
      for (const outcome of outcomes) {
        const seq = seqOf(outcome.id);
        const row =
          seq === undefined ? undefined : (this.#sql.held.get(seq, outcome.id, lease, now) as HeldRow | undefined);
        if (!row) continue;
        if ("ack" in outcome) {
          this.#sql.delete.run(row.seq);
          result.acked.push(row.id);
        } else {
          const { error = "retried", delay, final } = outcome.retry;
          this.#fail(row, now, policy, error, delay, result, final);
        }
      }
    });
    return result;
  }

  /**
   * Every in-flight message of `queue` whose lease expired at `now` (`now` ≥ its
   * `visibleAt`) counts as a failed delivery, retried under the same rules as `settle`'s
   * retry (back-off, dead letter, drop). Returns their ids, in the order the leases expired.
   */
  expireLeases(queue: string, now: number, policy: QueuePolicy): string[] {
    return this.expireLeasesDetailed(queue, now, policy).expired;
  }

  /** `expireLeases`, also telling which messages were retried, dead-lettered or dropped (to log the drops). */
  expireLeasesDetailed(queue: string, now: number, policy: QueuePolicy): ExpiredLeases {
    const result: ExpiredLeases = { expired: [], retried: [], deadLettered: [], dropped: [], bodies: new Map() };
    this.#transaction(() => {
      for (const row of this.#sql.expired.all(queue, now) as unknown as HeldRow[]) {
        const within = formatDuration(policy.visibilityTimeout);
        const error = `visibility timeout expired (delivery ${row.attempts} was not settled within ${within})`;
        this.#fail(row, now, policy, error, undefined, result);
        result.expired.push(row.id);
      }
    });
    return result;
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

  /**
   * How many messages of `queue` are deliverable at `now`, counting no further than
   * `atMost`: whether a full batch is ready, without counting a whole backlog as `stats` does.
   */
  /** When the longest-waiting deliverable message of `queue` became deliverable; undefined when none is. */
  oldestDeliverable(queue: string, now: number): number | undefined {
    const row = this.#sql.oldestDeliverable.get(queue, now) as { at: number | null };
    return row.at ?? undefined;
  }

  readyCount(queue: string, now: number, atMost: number): number {
    const limit = Math.max(0, Math.floor(atMost));
    const row = this.#sql.readyCount.get(queue, now, limit) as { count: number };
    return Math.min(row.count, limit);
  }

  /** When `dropExpired` will next drop something of `queue`: its oldest message's first send plus `retention`. */
  nextExpiry(queue: string, policy: QueuePolicy): number | undefined {
    const row = this.#sql.oldest.get(queue) as { oldest: number | null };
    return row.oldest === null ? undefined : row.oldest + policy.retention;
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

  /** Records the label of each delivery route, so a dead letter keyed by a route shows it even after the route is gone. */
  nameRoutes(routes: readonly DeliveryRoute[]): void {
    if (routes.length === 0) return;
    this.#transaction(() => {
      for (const route of routes) this.#sql.nameRoute.run(route.key, route.label);
    });
  }

  /** The label of delivery route `key` (`orders/paid → function fulfil`); undefined for an app's queue. */
  routeLabel(key: string): string | undefined {
    return (this.#sql.routeLabel.get(key) as { label: string } | undefined)?.label;
  }

  /** Deletes every message in `queue`, those being delivered too (their settle then finds nothing); returns how many. */
  purge(queue: string): number {
    return Number(this.#sql.purge.run(queue).changes);
  }

  /** Empties every queue, and forgets every schedule's last tick. */
  clear(): void {
    this.#transaction(() => {
      this.#sql.clear.run();
      this.#sql.clearTicks.run();
    });
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }

  /** A failed delivery: core's `decideDelivery` says where it goes; this carries it out. */
  #fail(
    row: HeldRow,
    now: number,
    policy: QueuePolicy,
    error: string,
    delay: number | undefined,
    result: Omit<SettleResult, "acked">,
    final = false,
  ): void {
    const outcome = { type: "retry", error, ...(delay === undefined ? {} : { delay }), final } as const;
    const decision = decideDelivery(policy, row.attempts, outcome, this.#random);
    switch (decision.action) {
      case "retry":
        this.#sql.retry.run(decision.after > 0 ? delayed : ready, now + decision.after, error, row.seq);
        result.retried.push(row.id);
        return;
      case "dead-letter":
        result.bodies.set(row.id, this.#body(row.seq));
        this.#sql.deadLetter.run(decision.queue, now, error, row.seq);
        result.deadLettered.push(row.id);
        return;
      case "drop":
        result.bodies.set(row.id, this.#body(row.seq));
        this.#sql.delete.run(row.seq);
        result.dropped.push(row.id);
        return;
      case "ack":
        // A failure is never decided an ack.
        return;
    }
  }

  #body(seq: number): Uint8Array {
    return (this.#sql.body.get(seq) as { body: Uint8Array }).body;
  }

  /**
   * Brings a file written by an earlier layout up to this one, in one transaction. Layout
   * 0 gave messages random ids, which `settle` cannot find without an index: they get ids
   * of the current form (no outcome can still come for an old id, since a lease dies with
   * its process). Layouts 0 and 1 keyed delivery queues, and the dead letters that died
   * in them, by their label: they move to the route's key, the label kept beside it.
   */
  #upgrade(): void {
    const version = () => (this.#db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
    if (version() >= layout) return;
    this.#transaction(() => {
      // Another thread may have upgraded the file since the check above.
      const from = version();
      if (from >= layout) return;
      if (from < 1) {
        const rename = this.#db.prepare("UPDATE messages SET id = ? WHERE seq = ?");
        const seqs = this.#db.prepare("SELECT seq FROM messages").all() as { seq: number }[];
        for (const { seq } of seqs) rename.run(messageId(seq), seq);
      }
      const labels = this.#db
        .prepare(
          `SELECT DISTINCT queue AS label FROM messages WHERE queue LIKE '% → %'
           UNION SELECT DISTINCT dead_from FROM messages WHERE dead_from LIKE '% → %'`,
        )
        .all() as { label: string }[];
      const moveQueue = this.#db.prepare("UPDATE messages SET queue = ? WHERE queue = ?");
      const moveDeadFrom = this.#db.prepare("UPDATE messages SET dead_from = ? WHERE dead_from = ?");
      for (const { label } of labels) {
        const route = routeOfLabel(label);
        if (!route) continue;
        moveQueue.run(route.key, label);
        moveDeadFrom.run(route.key, label);
        this.#sql.nameRoute.run(route.key, route.label);
        this.renamedRoutes.push(label);
      }
      this.#db.exec(`PRAGMA user_version = ${layout}`);
    });
  }
}

/** The route a label of layout 1 stands for: `<rule or schedule> → <kind> <name>`, names being DNS labels. */
function routeOfLabel(label: string): DeliveryRoute | undefined {
  const match = /^(\S+) → (function|queue|bus) (\S+)$/.exec(label);
  return match ? deliveryRoute(match[1]!, { kind: match[2]!, name: match[3]! }) : undefined;
}

/** A UUID of version 8: `seq` in the first 48 bits, then the version, then 74 random bits of a v4 UUID. */
function messageId(seq: number): string {
  const hex = seq.toString(16).padStart(12, "0");
  const random = randomUUID(); // xxxxxxxx-xxxx-4xxx-Vxxx-xxxxxxxxxxxx; V holds the variant, as v8 needs
  return `${hex.slice(0, 8)}-${hex.slice(8)}-8${random.slice(15, 18)}-${random.slice(19)}`;
}

/** The `seq` a message id carries, or undefined for text that is not one of ours. */
function seqOf(id: string): number | undefined {
  if (typeof id !== "string" || id.length !== 36 || id[14] !== "8") return undefined;
  const seq = Number.parseInt(`${id.slice(0, 8)}${id.slice(9, 13)}`, 16);
  return Number.isSafeInteger(seq) && seq > 0 ? seq : undefined;
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
  const chain = parseChain(row.chain);
  if (chain) message.chain = chain;
  return message;
}

/**
 * Adds the `chain` column to a file written before chains were stored: its messages belong
 * to no chain. Another thread may add it meanwhile.
 */
function addChainColumn(db: DatabaseSync): void {
  const has = () =>
    (db.prepare("PRAGMA table_info(messages)").all() as { name: string }[]).some((c) => c.name === "chain");
  if (has()) return;
  try {
    db.exec("ALTER TABLE messages ADD COLUMN chain TEXT");
  } catch (error) {
    if (!has()) throw error;
  }
}
