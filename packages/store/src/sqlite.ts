import { DatabaseSync } from "node:sqlite";

/** Ms a write waits for another connection's write lock before it fails. */
const lockTimeout = 10_000;
/** SQLite's SQLITE_BUSY: another connection holds the lock. */
const busy = 5;
/** What `Atomics.wait` sleeps on between tries. */
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * Opens a database (a bucket's index; the emulator's queue store): WAL, and waits for a
 * lock another thread holds.
 *
 * Not `durable` (the emulator): no fsync. A commit is in the WAL once written, and the
 * OS keeps it through a killed process; only power loss can lose the last commits.
 * `durable` (the store service): `synchronous = FULL`, so the WAL is fsynced at every
 * commit and an acknowledged write survives power loss too.
 */
export function openDatabase(file: string, options: { durable?: boolean } = {}): DatabaseSync {
  const db = new DatabaseSync(file);
  db.exec(
    `PRAGMA busy_timeout = ${lockTimeout}; PRAGMA journal_mode = WAL; PRAGMA synchronous = ${options.durable ? "FULL" : "OFF"};`,
  );
  return db;
}

/**
 * Runs work in one write transaction (`BEGIN IMMEDIATE`, so two threads never both read
 * then write), rolled back if it throws. The statements are prepared once per database.
 *
 * While another connection holds the write lock (a function's worker storing a send
 * while the emulator leases a batch), BEGIN is tried again after 20 µs, then after
 * pauses that double up to 100 µs, for at most `lockTimeout`: SQLite's own busy handler
 * sleeps 1 ms at its first retry, longer than most transactions here hold the lock.
 * Measured with `./pnpm bench --only queues`: single sends 29k/s with pauses up to 1 ms,
 * 32k/s up to 100 µs; the handler's own 1 ms steps gave 26k/s.
 */
export function transactions(db: DatabaseSync): (work: () => void) => void {
  const begin = db.prepare("BEGIN IMMEDIATE");
  const commit = db.prepare("COMMIT");
  const rollback = db.prepare("ROLLBACK");
  const failFast = db.prepare("PRAGMA busy_timeout = 0");
  const waitAgain = db.prepare(`PRAGMA busy_timeout = ${lockTimeout}`);
  const beginSoon = () => {
    failFast.run();
    try {
      const deadline = performance.now() + lockTimeout;
      for (let pause = 0.02; ; pause = Math.min(pause * 2, 0.1)) {
        try {
          begin.run();
          return;
        } catch (error) {
          if ((error as { errcode?: number }).errcode !== busy || performance.now() > deadline) throw error;
        }
        Atomics.wait(sleeper, 0, 0, pause);
      }
    } finally {
      waitAgain.run();
    }
  };
  return (work) => {
    beginSoon();
    try {
      work();
      commit.run();
    } catch (error) {
      rollback.run();
      throw error;
    }
  };
}
