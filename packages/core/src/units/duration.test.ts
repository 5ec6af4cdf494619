import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "./duration.ts";

describe("parseDuration", () => {
  it("parse: reads short and long unit names", () => {
    expect(parseDuration("250ms")).toBe(250);
    expect(parseDuration("30s")).toBe(30_000);
    expect(parseDuration("5 minutes")).toBe(300_000);
    expect(parseDuration("1.5h")).toBe(5_400_000);
    expect(parseDuration("2 days")).toBe(172_800_000);
  });
  it("parse: returns undefined for text that is not a duration", () => {
    for (const bad of ["", "5", "five minutes", "5 fortnights", "-1s", "1e3s"]) {
      expect(parseDuration(bad), bad).toBeUndefined();
    }
  });
  it("format: writes the largest units first", () => {
    expect(formatDuration(90_000)).toBe("1m30s");
    expect(formatDuration(0)).toBe("0s");
  });
});
