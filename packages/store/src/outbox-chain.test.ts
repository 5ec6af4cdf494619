import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { BucketStore } from "./store.ts";

let root: string;
let opened: BucketStore[];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "nimbus-outbox-chain-"));
  opened = [];
});

afterEach(() => {
  for (const store of opened) store.close();
  rmSync(root, { recursive: true, force: true });
});

function open(): BucketStore {
  const store = new BucketStore({ name: "uploads", dir: join(root, "uploads"), now: () => 1_000 });
  opened.push(store);
  store.setNotifying(true);
  return store;
}

describe("outbox chains", () => {
  test("changes: each change keeps the chain of the invocation that made it (§loops/7)", async () => {
    const store = open();
    await store.put("a", new TextEncoder().encode("1"), { chain: { id: "c1", depth: 3 } });
    await store.put("b", new TextEncoder().encode("2"));
    await store.copy(store, "a", "c", { chain: { id: "c2", depth: 16 } });
    store.delete(["b"], { chain: { id: "c1", depth: 4 } });
    expect(store.changes().map(({ key, event, chain }) => ({ key, event, chain }))).toEqual([
      { key: "a", event: "created", chain: { id: "c1", depth: 3 } },
      { key: "b", event: "created", chain: undefined },
      { key: "c", event: "created", chain: { id: "c2", depth: 16 } },
      { key: "b", event: "deleted", chain: { id: "c1", depth: 4 } },
    ]);
  });

  test("open: an outbox of a bucket from before chains gains the column; its changes belong to no chain (§loops/7)", async () => {
    const dir = join(root, "uploads");
    const first = open();
    await first.put("old", new TextEncoder().encode("1"));
    first.close();
    // The outbox as it was before chains were recorded.
    const db = new DatabaseSync(join(dir, "index.sqlite"));
    db.exec("ALTER TABLE outbox DROP COLUMN chain");
    db.close();
    const store = open();
    await store.put("new", new TextEncoder().encode("2"), { chain: { id: "c", depth: 2 } });
    expect(store.changes().map(({ key, chain }) => ({ key, chain }))).toEqual([
      { key: "old", chain: undefined },
      { key: "new", chain: { id: "c", depth: 2 } },
    ]);
  });
});
