import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { afterEach, beforeEach, describe, expect, test } from "vitest";
import { type OutgoingMessage, type QueuePolicy, QueueStore } from "./store.ts";

let root: string;
let file: string;
let opened: QueueStore[];

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "nimbus-queue-chain-"));
  file = join(root, "queues.sqlite");
  opened = [];
});

afterEach(() => {
  for (const store of opened) store.close();
  rmSync(root, { recursive: true, force: true });
});

function open(): QueueStore {
  const store = new QueueStore({ file });
  opened.push(store);
  return store;
}

const t0 = Date.UTC(2030, 0, 1, 12);
const policy: QueuePolicy = {
  visibilityTimeout: 30_000,
  maxAttempts: 1,
  backoff: { initial: 1_000, max: 60_000 },
  deadLetter: "jobs-dlq",
  retention: 86_400_000,
};
const message = (n: number, chain?: { id: string; depth: number }): OutgoingMessage => ({
  format: "json",
  body: new TextEncoder().encode(JSON.stringify({ n })),
  ...(chain ? { chain } : {}),
});

describe("queue store chains", () => {
  test("lease: a message keeps the chain it was sent with, also in a new store on the file (§loops/7)", () => {
    open().send("jobs", [message(1, { id: "c", depth: 7 }), message(2)], t0);
    const { messages } = open().lease("jobs", 10, t0, policy);
    expect(messages.map((m) => m.chain)).toEqual([{ id: "c", depth: 7 }, undefined]);
  });

  test("redrive: a redriven message belongs to no chain (§loops/6)", () => {
    const store = open();
    store.send("jobs", [message(1, { id: "c", depth: 16 })], t0);
    const { lease, messages } = store.lease("jobs", 10, t0, policy);
    store.settle(lease, [{ id: messages[0]!.id, retry: { error: "loop", final: true } }], t0, policy);
    expect(store.deadLettered("jobs-dlq")[0]?.chain).toEqual({ id: "c", depth: 16 });
    store.redrive("jobs-dlq", t0);
    expect(store.lease("jobs", 10, t0, policy).messages.map((m) => m.chain)).toEqual([undefined]);
  });

  test("open: a file from before chains gains the column; its messages belong to no chain (§loops/7)", () => {
    open().send("jobs", [message(1)], t0);
    for (const store of opened.splice(0)) store.close();
    const db = new DatabaseSync(file);
    db.exec("ALTER TABLE messages DROP COLUMN chain");
    db.close();
    const store = open();
    store.send("jobs", [message(2, { id: "c", depth: 2 })], t0);
    expect(store.lease("jobs", 10, t0, policy).messages.map((m) => m.chain)).toEqual([
      undefined,
      { id: "c", depth: 2 },
    ]);
  });
});
