import { App } from "@nimbus/core";
import { describe, expect, test } from "vitest";
import type { QueueRunPayload } from "../message-batch.ts";
import { admitBatch } from "./loop-guard.ts";

/** `echo` consumes `jobs` and sends to it. */
function graph() {
  const app = new App("loops");
  const jobs = app.queue("jobs");
  const echo = app.function("echo", { handler: "./echo.ts", link: { jobs } });
  jobs.subscribe(echo);
  return app.toGraph();
}

function batch(...ids: string[]): QueueRunPayload {
  return {
    queue: "jobs",
    messages: ids.map((id) => ({ id, body: new Uint8Array(), format: "json" as const, attempts: 1, firstSeen: 0 })),
  };
}

const route = { via: { kind: "queue" as const, name: "jobs" }, function: "echo" };

describe("admitBatch", () => {
  test("admitBatch: a message that would start a chain's 17th invocation is taken out, the rest run in the deepest chain (§loops/2, /4)", () => {
    const lines: string[] = [];
    const admitted = admitBatch(
      graph(),
      route,
      batch("a", "b", "c"),
      [{ id: "x", depth: 3 }, { id: "y", depth: 16 }, undefined],
      (index) => `message ${"abc"[index]}`,
      (line) => lines.push(line),
    );
    expect(admitted.payload.messages.map((m) => m.id)).toEqual(["a", "c"]);
    expect(admitted.chain).toEqual({ id: "x", depth: 4 });
    expect(admitted.refused).toHaveLength(1);
    expect(admitted.refused[0]!.id).toBe("b");
    expect(admitted.refused[0]!.error).toContain('function "echo" would be the 17th invocation of one chain (chain y)');
    expect(admitted.refused[0]!.error).toContain('function "echo" → queue "jobs" → function "echo"');
    expect(admitted.refused[0]!.error).toContain("The message b was not delivered; it was dropped.");
    // One error line per stopped delivery, with its code.
    expect(lines).toEqual([`NIMBUS_FUNCTION_LOOP: ${admitted.refused[0]!.error}`]);
  });

  test("admitBatch: messages sent from outside any invocation start a new chain at depth 1 (§loops/1)", () => {
    const admitted = admitBatch(
      graph(),
      route,
      batch("a"),
      [undefined],
      () => "message a",
      () => {},
    );
    expect(admitted.refused).toEqual([]);
    expect(admitted.chain?.depth).toBe(1);
  });
});
