import { describe, expect, it } from "vitest";
import { runCli } from "./support/cli.ts";

describe("nimbus schedule next", () => {
  it("schedule next: prints the next five firings in the schedule's zone and in UTC, across a DST change", () => {
    const result = runCli(["schedule", "next", "examples/shop", "nightly-report", "--from", "2026-03-27T12:00:00Z"]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout.trimEnd().split("\n")).toEqual([
      'nightly-report: cron "0 2 * * *" in Europe/Berlin, next 5 after 2026-03-27T12:00:00.000Z',
      "  2026-03-28 02:00:00 CET        2026-03-28T01:00:00.000Z",
      // 02:00 does not exist on the night clocks spring forward: it fires once, shifted by the gap.
      "  2026-03-29 03:00:00 CEST       2026-03-29T01:00:00.000Z",
      "  2026-03-30 02:00:00 CEST       2026-03-30T00:00:00.000Z",
      "  2026-03-31 02:00:00 CEST       2026-03-31T00:00:00.000Z",
      "  2026-04-01 02:00:00 CEST       2026-04-01T00:00:00.000Z",
    ]);
  });

  it("schedule next: takes --count", () => {
    const result = runCli(["schedule", "next", "examples/shop", "nightly-report", "--count", "2"]);
    expect(result.status).toBe(0);
    expect(result.stdout.trimEnd().split("\n")).toHaveLength(3);
  });

  it("schedule next: names the app's schedules when the name is unknown, and exits 1", () => {
    const result = runCli(["schedule", "next", "examples/shop", "hourly"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe('✖ App "shop" has no schedule "hourly" (its schedules: "nightly-report").\n');
  });

  it("schedule next: explains a bad --from or --count", () => {
    expect(runCli(["schedule", "next", "examples/shop", "nightly-report", "--from", "yesterday"]).stderr).toMatch(
      /--from expects an ISO time/,
    );
    expect(runCli(["schedule", "next", "examples/shop", "nightly-report", "--count", "0"]).stderr).toMatch(
      /--count expects a whole number from 1 to 1000; found "0"/,
    );
  });
});
