import { describe, expect, test } from "vitest";
import { InFlight, InFlightMirror } from "./in-flight.ts";

describe("InFlight", () => {
  test("add: hands out ids that find their entry until it is deleted", () => {
    const table = new InFlight<string>();
    const a = table.add("a");
    const b = table.add("b");
    expect(a).not.toBe(b);
    expect(table.get(a)).toBe("a");
    expect(table.get(b)).toBe("b");
    expect(table.size).toBe(2);
    expect(table.delete(a)).toBe(true);
    expect(table.get(a)).toBeUndefined();
    expect(table.has(a)).toBe(false);
    expect(table.delete(a)).toBe(false);
    expect(table.size).toBe(1);
    expect([...table.values()]).toEqual(["b"]);
  });

  test("add: a freed slot is taken again, under an id the old one never matches", () => {
    const table = new InFlight<string>();
    const first = table.add("first");
    table.delete(first);
    const second = table.add("second");
    expect(second).not.toBe(first);
    // A late message for the finished entry (a worker's `done` after a timeout) finds nothing.
    expect(table.get(first)).toBeUndefined();
    expect(table.delete(first)).toBe(false);
    expect(table.get(second)).toBe("second");
  });

  test("add: ids stay unique over many entries in and out, with the live ones all found", () => {
    const table = new InFlight<number>();
    const live = new Map<number, number>();
    const seen = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      const id = table.add(i);
      expect(seen.has(id)).toBe(false);
      seen.add(id);
      live.set(id, i);
      // Keeps about 50 in flight, finishing them out of order.
      if (live.size > 50) {
        const ids = [...live.keys()];
        const gone = ids[(i * 7) % ids.length]!;
        expect(table.delete(gone)).toBe(true);
        live.delete(gone);
      }
    }
    expect(table.size).toBe(live.size);
    for (const [id, value] of live) expect(table.get(id)).toBe(value);
    expect([...table.values()].sort((a, b) => a - b)).toEqual([...live.values()].sort((a, b) => a - b));
  });

  test("values: an entry deleted while iterating is skipped, the others still come", () => {
    const table = new InFlight<string>();
    const ids = ["a", "b", "c"].map((value) => table.add(value));
    const seen: string[] = [];
    for (const value of table.values()) {
      seen.push(value);
      if (value === "a") table.delete(ids[1]!);
    }
    expect(seen).toEqual(["a", "c"]);
  });
});

describe("InFlightMirror", () => {
  test("set: keeps entries under a peer's ids; a stale id finds nothing once its slot is reused", () => {
    const peer = new InFlight<true>();
    const mirror = new InFlightMirror<string>();
    const a = peer.add(true);
    const b = peer.add(true);
    mirror.set(a, "a");
    mirror.set(b, "b");
    expect(mirror.get(a)).toBe("a");
    expect(mirror.size).toBe(2);
    peer.delete(a);
    mirror.delete(a);
    const c = peer.add(true);
    mirror.set(c, "c");
    expect(mirror.get(a)).toBeUndefined();
    expect(mirror.get(c)).toBe("c");
    expect(mirror.get(b)).toBe("b");
    expect(mirror.size).toBe(2);
  });
});
