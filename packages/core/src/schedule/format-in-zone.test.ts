import { describe, expect, it } from "vitest";
import { formatInZone } from "./format-in-zone.ts";

describe("formatInZone", () => {
  it("formatInZone: writes wall-clock time with the zone's abbreviation", () => {
    expect(formatInZone(new Date("2026-03-29T01:30:00Z"), "Europe/Berlin")).toBe("2026-03-29 03:30:00 CEST");
    expect(formatInZone(new Date("2026-01-15T08:05:09Z"), "Europe/Berlin")).toBe("2026-01-15 09:05:09 CET");
    expect(formatInZone(new Date("2026-11-01T06:30:00Z"), "America/New_York")).toBe("2026-11-01 01:30:00 EST");
    expect(formatInZone(new Date("2026-07-01T00:00:00Z"), "Europe/London")).toBe("2026-07-01 01:00:00 BST");
    expect(formatInZone(new Date("2026-07-01T00:00:00Z"), "UTC")).toBe("2026-07-01 00:00:00 UTC");
  });

  it("formatInZone: falls back to the offset where no abbreviation is known", () => {
    expect(formatInZone(new Date("2026-07-01T00:00:00Z"), "Asia/Tokyo")).toBe("2026-07-01 09:00:00 GMT+9");
  });

  it("formatInZone: throws for an unknown time zone", () => {
    expect(() => formatInZone(new Date(), "Mars/Olympus")).toThrow(RangeError);
  });
});
