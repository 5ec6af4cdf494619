import { describe, expect, it } from "vitest";
import { offsetAt, resolveWallTime } from "./zoned-time.ts";

const wall = (text: string) => Date.parse(`${text}Z`);

describe("zoned time", () => {
  it("offsetAt: gives the zone's offset in milliseconds at an instant", () => {
    expect(offsetAt(Date.parse("2026-01-15T12:00:00Z"), "Europe/Berlin")).toBe(3_600_000);
    expect(offsetAt(Date.parse("2026-07-15T12:00:00Z"), "Europe/Berlin")).toBe(7_200_000);
    expect(offsetAt(Date.parse("2026-07-15T12:00:00Z"), "America/New_York")).toBe(-4 * 3_600_000);
    expect(offsetAt(Date.parse("2026-07-15T12:00:00Z"), "Asia/Kolkata")).toBe(5.5 * 3_600_000);
  });

  it("resolveWallTime: reads an ordinary wall time with the zone's offset", () => {
    expect(resolveWallTime(wall("2026-01-15T12:00:00"), "Europe/Berlin")).toEqual({
      kind: "single",
      instant: Date.parse("2026-01-15T11:00:00Z"),
    });
  });

  it("resolveWallTime: shifts a skipped wall time forward by the gap", () => {
    expect(resolveWallTime(wall("2026-03-29T02:30:00"), "Europe/Berlin")).toEqual({
      kind: "skipped",
      instant: Date.parse("2026-03-29T01:30:00Z"),
      transition: Date.parse("2026-03-29T01:00:00Z"),
      offsetAfter: 7_200_000,
    });
  });

  it("resolveWallTime: takes the first occurrence of a repeated wall time", () => {
    expect(resolveWallTime(wall("2026-10-25T02:30:00"), "Europe/Berlin")).toEqual({
      kind: "repeated",
      instant: Date.parse("2026-10-25T00:30:00Z"),
    });
    expect(resolveWallTime(wall("2026-11-01T01:30:00"), "America/New_York")).toEqual({
      kind: "repeated",
      instant: Date.parse("2026-11-01T05:30:00Z"),
    });
  });
});
