export {
  describeSchedule,
  type ScheduleExpression,
  type ScheduleField,
  type ScheduleProblem,
  scheduleProblems,
} from "./expression.ts";
export { formatInZone } from "./format-in-zone.ts";
export { type CompiledSchedule, compileSchedule, nextRuns } from "./next-runs.ts";
export { ScheduleError } from "./schedule-error.ts";
