import { describeSchedule, formatInZone, NimbusError, nextRuns, scheduleExpressionOf } from "@nimbus/core";
import { loadApp } from "@nimbus/emulator";
import type { Output } from "../output.ts";

export async function scheduleNextCommand(
  args: { dir: string; name: string; count: number; from: Date },
  output: Output,
): Promise<void> {
  const { graph } = await loadApp(args.dir);
  const schedules = graph.resources.filter((r) => r.kind === "schedule");
  const schedule = schedules.find((r) => r.name === args.name);
  if (!schedule) {
    const known = schedules.map((r) => `"${r.name}"`).join(", ") || "none";
    throw new NimbusError(
      "NIMBUS_CLI_SCHEDULE_UNKNOWN",
      `App "${graph.app}" has no schedule "${args.name}" (its schedules: ${known}).`,
    );
  }
  const expression = scheduleExpressionOf(schedule.spec);
  const runs = nextRuns(expression, { from: args.from, count: args.count });
  const zone = schedule.spec.timezone;
  output.out(`${schedule.name}: ${describeSchedule(expression)}, next ${runs.length} after ${args.from.toISOString()}`);
  for (const run of runs) {
    output.out(`  ${formatInZone(run, zone).padEnd(30)} ${run.toISOString()}`);
  }
}

/** Reads `--count` and `--from`, with errors that say what is expected. */
export function parseScheduleOptions(values: { count?: unknown; from?: unknown }): { count: number; from: Date } {
  const count = values.count === undefined ? 5 : Number(values.count);
  if (!Number.isInteger(count) || count < 1 || count > 1000) {
    throw new NimbusError(
      "NIMBUS_CLI_ARGS",
      `--count expects a whole number from 1 to 1000; found "${String(values.count)}".`,
    );
  }
  const from = values.from === undefined ? new Date() : new Date(String(values.from));
  if (Number.isNaN(from.getTime())) {
    throw new NimbusError(
      "NIMBUS_CLI_ARGS",
      `--from expects an ISO time such as 2026-03-28T00:00:00Z; found "${String(values.from)}".`,
    );
  }
  return { count, from };
}
