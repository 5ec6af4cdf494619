import { NimbusError } from "../errors/nimbus-error.ts";
import type { ScheduleProblem } from "./expression.ts";

/** Thrown by `compileSchedule` and `nextRuns` for an invalid expression, with every problem. */
export class ScheduleError extends NimbusError {
  readonly problems: readonly ScheduleProblem[];

  constructor(problems: readonly ScheduleProblem[]) {
    const lines = problems.map(
      (problem) => `  - ${problem.field === "" ? "" : `${problem.field}: `}${problem.message}`,
    );
    super(
      "NIMBUS_SCHEDULE_INVALID",
      `Schedule expression has ${problems.length} problem${problems.length === 1 ? "" : "s"}:\n${lines.join("\n")}`,
    );
    this.name = "ScheduleError";
    this.problems = problems;
  }
}
