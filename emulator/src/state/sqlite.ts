import { DatabaseSync } from "node:sqlite";

/**
 * Opens an emulator database: WAL, no fsync, and waits for a lock another thread holds.
 * A commit is durable once written to the WAL, and the OS keeps it through a killed
 * process; only power loss could lose the last commits, which no store promises.
 */
export function openDatabase(file: string): DatabaseSync {
  const db = new DatabaseSync(file);
  db.exec("PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA synchronous = OFF;");
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
