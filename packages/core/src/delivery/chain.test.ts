import { describe, expect, test } from "vitest";
import { App } from "../app/app.ts";
import { NimbusError } from "../errors/nimbus-error.ts";
import { loopLimits } from "../limits.ts";
import {
  chainStartedBy,
  deepestChain,
  deliveredChain,
  formatChain,
  isLoop,
  loopError,
  loopPath,
  parseChain,
} from "./chain.ts";

/** A function notified of its own bucket's writes, and two functions feeding each other through a queue and a bus. */
function loops() {
  const app = new App("loops");
  const uploads = app.bucket("uploads");
  const files = app.bus("files", { deadLetter: true });
  const resize = app.function("resize", { handler: "./resize.ts", link: { uploads } });
  uploads.notify(files);
  files.rule("resize", { pattern: { source: ["nimbus.bucket"] }, targets: [resize] });
  const jobs = app.queue("jobs");
  const events = app.bus("events");
  const a = app.function("a", { handler: "./a.ts", link: { jobs } });
  const b = app.function("b", { handler: "./b.ts", link: { events } });
  jobs.subscribe(b);
  events.rule("again", { pattern: { source: ["b"] }, targets: [a] });
  return app.toGraph();
}

describe("chains", () => {
  test("formatChain: reads back with parseChain", () => {
    expect(parseChain(formatChain({ id: "3f2a9c1d", depth: 16 }))).toEqual({ id: "3f2a9c1d", depth: 16 });
  });

  test("parseChain: anything else belongs to no chain", () => {
    for (const text of [undefined, null, "", "abc", "a;b", ";3", "a;-1", "a b;2", "a;1;2"]) {
      expect(parseChain(text)).toBeUndefined();
    }
  });

  test("deliveredChain: one deeper than the sender; a new chain at depth 1 without one", () => {
    expect(deliveredChain({ id: "c", depth: 3 })).toEqual({ id: "c", depth: 4 });
    const fresh = deliveredChain(undefined);
    expect(fresh.depth).toBe(1);
    expect(fresh.id).toMatch(/^[0-9a-f]{8}$/);
    expect(deliveredChain(undefined).id).not.toBe(fresh.id);
  });

  test("chainStartedBy: named after the invocation when its id fits a chain's, so it travels and parses back", () => {
    expect(chainStartedBy("3f9a01bc")).toEqual({ id: "3f9a01bc", depth: 1 });
    expect(parseChain(formatChain(chainStartedBy("3f9a01bc")))).toEqual({ id: "3f9a01bc", depth: 1 });
    for (const id of ["a;b", "has space", "x".repeat(65), ""]) {
      const chain = chainStartedBy(id);
      expect(chain.depth).toBe(1);
      expect(chain.id).toMatch(/^[0-9a-f]{8}$/);
    }
  });

  test("deepestChain: a batch runs in its deepest message's chain", () => {
    expect(deepestChain([undefined, { id: "a", depth: 2 }, { id: "b", depth: 5 }, undefined])).toEqual({
      id: "b",
      depth: 5,
    });
    expect(deepestChain([undefined])).toBeUndefined();
  });

  test("isLoop: the invocation after the 16th of a chain is a loop (§loops/1)", () => {
    expect(loopLimits.maxDepth).toBe(16);
    expect(isLoop({ id: "c", depth: 16 })).toBe(false);
    expect(isLoop({ id: "c", depth: 17 })).toBe(true);
  });

  test("loopPath: a function notified of its own bucket, from the function back to it", () => {
    expect(loopPath(loops(), { via: { kind: "rule", name: "files/resize" }, function: "resize" })).toEqual([
      'function "resize"',
      'bucket "uploads"',
      'bus "files"',
      "rule files/resize",
      'function "resize"',
    ]);
  });

  test("loopPath: two functions feeding each other through a queue and a bus", () => {
    expect(loopPath(loops(), { via: { kind: "queue", name: "jobs" }, function: "b" })).toEqual([
      'function "b"',
      'bus "events"',
      "rule events/again",
      'function "a"',
      'queue "jobs"',
      'function "b"',
    ]);
  });

  test("loopPath: just the route when the graph no longer connects them", () => {
    expect(loopPath(loops(), { via: { kind: "queue", name: "jobs" }, function: "resize" })).toEqual([
      'function "resize"',
      'queue "jobs"',
      'function "resize"',
    ]);
  });

  test("loopError: names the loop, the chain, where the delivery went and how to fix it (§loops/3)", () => {
    const error = loopError(
      loops(),
      { id: "3f2a9c1d", depth: 17 },
      { via: { kind: "rule", name: "files/resize" }, function: "resize" },
      "event 5b1e (Object Created)",
    );
    expect(NimbusError.is(error) && error.code).toBe("NIMBUS_FUNCTION_LOOP");
    expect(error.message).toContain('function "resize" would be the 17th invocation of one chain (chain 3f2a9c1d)');
    expect(error.message).toContain(
      'The loop: function "resize" → bucket "uploads" → bus "files" → rule files/resize → function "resize".',
    );
    expect(error.message).toContain('it was moved to the dead-letter queue "files-dlq"');
    expect(error.message).toContain("narrow the trigger");
  });

  test("loopError: a queue without a dead-letter queue drops the message", () => {
    const error = loopError(
      loops(),
      { id: "c", depth: 17 },
      { via: { kind: "queue", name: "jobs" }, function: "b" },
      "message 1",
    );
    expect(error.message).toContain("The message 1 was not delivered; it was dropped.");
  });
});
