import { describe, expect, it } from "vitest";
import { formatSize, parseSize } from "./size.ts";

describe("parseSize", () => {
  it("parse: reads binary and decimal units", () => {
    expect(parseSize("256KiB")).toBe(262_144);
    expect(parseSize("6 MiB")).toBe(6_291_456);
    expect(parseSize("1MB")).toBe(1_000_000);
    expect(parseSize("512 bytes")).toBe(512);
    expect(parseSize("1.5GiB")).toBe(1_610_612_736);
  });
  it("parse: returns undefined for text that is not a size", () => {
    for (const bad of ["", "12", "big", "5 XB", "-1KiB"]) expect(parseSize(bad), bad).toBeUndefined();
  });
  it("format: uses the largest whole binary unit", () => {
    expect(formatSize(6_291_456)).toBe("6MiB");
    expect(formatSize(1000)).toBe("1000B");
  });
});
