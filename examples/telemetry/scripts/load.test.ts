import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { LoadReport } from "./load.ts";

describe("the telemetry load script", () => {
  it("load: a burst of 200 readings against its own emulator is accepted, drained and reported", () => {
    const run = spawnSync(
      process.execPath,
      [
        "--conditions=nimbus-source",
        "--disable-warning=ExperimentalWarning",
        join(import.meta.dirname, "load.ts"),
        "--readings",
        "200",
        "--batch",
        "50",
        "--drain-timeout",
        "30",
        "--json",
      ],
      { encoding: "utf8", timeout: 50_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const report = JSON.parse(run.stdout) as LoadReport;
    expect(report).toMatchObject({ readings: 200, accepted: 200, rejected: 0, drained: true });
    expect(report.stats?.raw).toMatchObject({ readings: 200, objects: 4 });
    expect(report.expectedAlerts).toBeGreaterThan(0);
    expect(report.stats?.alerts.handled).toBe(report.expectedAlerts);
    expect(report.stats?.alerts.lagMs?.max).toBeGreaterThanOrEqual(report.stats?.alerts.lagMs?.p50 ?? Infinity);
    expect(report.depth?.length).toBeGreaterThan(0);
    expect(report.rssMiB?.peak).toBeGreaterThan(0);
  });
});
