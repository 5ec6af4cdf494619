import { DatabaseSync } from "node:sqlite";

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
    `PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = ${options.durable ? "FULL" : "OFF"};`,
  );
  return db;
}

/**
 * Runs work in one write transaction (`BEGIN IMMEDIATE`, so two threads never both read
 * then write), rolled back if it throws. The statements are prepared once per database.
 */
export function transactions(db: DatabaseSync): (work: () => void) => void {
  const begin = db.prepare("BEGIN IMMEDIATE");
  const commit = db.prepare("COMMIT");
  const rollback = db.prepare("ROLLBACK");
  return (work) => {
    begin.run();
    try {
      work();
      commit.run();
    } catch (error) {
      rollback.run();
      throw error;
    }
  };
}
