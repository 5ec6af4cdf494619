import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { NimbusError } from "../errors/nimbus-error.ts";
import type { ScheduleExpression } from "./expression.ts";
import { formatInZone } from "./format-in-zone.ts";
import { compileSchedule, nextRuns } from "./next-runs.ts";
import type { ScheduleError } from "./schedule-error.ts";
import { offsetAt } from "./zoned-time.ts";

const runs = (schedule: ScheduleExpression, from: string, count: number) =>
  nextRuns(schedule, { from: new Date(from), count }).map((date) => date.toISOString());

/** Runs as wall-clock text in the schedule's zone, which is what the DST rules are about. */
const wallRuns = (schedule: ScheduleExpression, from: string, count: number) =>
  nextRuns(schedule, { from: new Date(from), count }).map((date) => formatInZone(date, schedule.timezone ?? "UTC"));

describe("nextRuns: cron forms", () => {
  it("nextRuns: reads 5-field cron as min hour day-of-month month day-of-week", () => {
    expect(runs({ cron: "0 2 * * *" }, "2026-01-01T00:00:00Z", 2)).toEqual([
      "2026-01-01T02:00:00.000Z",
      "2026-01-02T02:00:00.000Z",
    ]);
    expect(runs({ cron: "15,45 9-10 * JAN-FEB *" }, "2026-01-31T10:30:00Z", 3)).toEqual([
      "2026-01-31T10:45:00.000Z",
      "2026-02-01T09:15:00.000Z",
      "2026-02-01T09:45:00.000Z",
    ]);
  });

  it("nextRuns: reads 6-field cron with seconds first", () => {
    expect(runs({ cron: "*/20 * * * * *" }, "2026-01-01T00:00:05Z", 3)).toEqual([
      "2026-01-01T00:00:20.000Z",
      "2026-01-01T00:00:40.000Z",
      "2026-01-01T00:01:00.000Z",
    ]);
  });

  it("nextRuns: returns instants strictly after from", () => {
    expect(runs({ cron: "0 2 * * *" }, "2026-01-01T02:00:00Z", 1)).toEqual(["2026-01-02T02:00:00.000Z"]);
    expect(runs({ cron: "0 2 * * *" }, "2026-01-01T01:59:59.999Z", 1)).toEqual(["2026-01-01T02:00:00.000Z"]);
  });

  it("nextRuns: reads Unix day-of-week 0 and 7 as Sunday", () => {
    // 2026-03-29 is a Sunday.
    for (const cron of ["0 9 * * 0", "0 9 * * 7", "0 9 * * SUN"]) {
      expect(runs({ cron }, "2026-03-26T00:00:00Z", 1), cron).toEqual(["2026-03-29T09:00:00.000Z"]);
    }
    expect(runs({ cron: "0 9 * * FRI-SUN" }, "2026-03-26T12:00:00Z", 3)).toEqual([
      "2026-03-27T09:00:00.000Z",
      "2026-03-28T09:00:00.000Z",
      "2026-03-29T09:00:00.000Z",
    ]);
  });

  it("nextRuns: runs on a day matching either day field when both are restricted (Unix)", () => {
    // Monday the 30th, Wednesday the 1st, Monday the 6th.
    expect(runs({ cron: "0 9 1 * MON" }, "2026-03-28T00:00:00Z", 3)).toEqual([
      "2026-03-30T09:00:00.000Z",
      "2026-04-01T09:00:00.000Z",
      "2026-04-06T09:00:00.000Z",
    ]);
  });

  it("nextRuns: reads the AWS form cron(min hour day-of-month month day-of-week year)", () => {
    expect(runs({ cron: "cron(0 10 * * ? *)" }, "2026-01-01T12:00:00Z", 2)).toEqual([
      "2026-01-02T10:00:00.000Z",
      "2026-01-03T10:00:00.000Z",
    ]);
  });

  it("nextRuns: reads AWS day-of-week 1-7 as SUN-SAT", () => {
    // 2026-03-28 is a Saturday; 2-6 is Monday to Friday in AWS numbering.
    expect(runs({ cron: "cron(0 9 ? * 2-6 *)" }, "2026-03-28T12:00:00Z", 6)).toEqual([
      "2026-03-30T09:00:00.000Z",
      "2026-03-31T09:00:00.000Z",
      "2026-04-01T09:00:00.000Z",
      "2026-04-02T09:00:00.000Z",
      "2026-04-03T09:00:00.000Z",
      "2026-04-06T09:00:00.000Z",
    ]);
    expect(runs({ cron: "cron(0 9 ? * 1 *)" }, "2026-03-28T12:00:00Z", 1)).toEqual(["2026-03-29T09:00:00.000Z"]);
    expect(runs({ cron: "cron(0 9 ? * 7 *)" }, "2026-03-28T12:00:00Z", 1)).toEqual(["2026-04-04T09:00:00.000Z"]);
  });

  it("nextRuns: reads AWS names for months and weekdays", () => {
    expect(runs({ cron: "cron(0 9 ? jan MON *)" }, "2026-01-20T00:00:00Z", 3)).toEqual([
      "2026-01-26T09:00:00.000Z",
      "2027-01-04T09:00:00.000Z",
      "2027-01-11T09:00:00.000Z",
    ]);
  });

  it("nextRuns: reads AWS L in day-of-month as the last day of the month", () => {
    expect(runs({ cron: "cron(0 18 L * ? *)" }, "2026-01-15T00:00:00Z", 3)).toEqual([
      "2026-01-31T18:00:00.000Z",
      "2026-02-28T18:00:00.000Z",
      "2026-03-31T18:00:00.000Z",
    ]);
    expect(runs({ cron: "cron(0 18 L FEB ? 2028)" }, "2026-01-15T00:00:00Z", 1)).toEqual(["2028-02-29T18:00:00.000Z"]);
  });

  it("nextRuns: reads AWS nL in day-of-week as the last such weekday of the month", () => {
    // 6 is Friday in AWS numbering.
    expect(runs({ cron: "cron(0 10 ? * 6L *)" }, "2026-03-28T12:00:00Z", 3)).toEqual([
      "2026-04-24T10:00:00.000Z",
      "2026-05-29T10:00:00.000Z",
      "2026-06-26T10:00:00.000Z",
    ]);
  });

  it("nextRuns: reads AWS L alone in day-of-week as Saturday, the last day of the week", () => {
    expect(runs({ cron: "cron(0 10 ? * L *)" }, "2026-03-28T12:00:00Z", 2)).toEqual([
      "2026-04-04T10:00:00.000Z",
      "2026-04-11T10:00:00.000Z",
    ]);
  });

  it("nextRuns: reads AWS W as the weekday nearest the day, within the month", () => {
    // 2026-02-15 and 2026-03-15 are Sundays; 2026-04-15 is a Wednesday.
    expect(runs({ cron: "cron(0 10 15W * ? *)" }, "2026-02-01T00:00:00Z", 3)).toEqual([
      "2026-02-16T10:00:00.000Z",
      "2026-03-16T10:00:00.000Z",
      "2026-04-15T10:00:00.000Z",
    ]);
    // 2026-08-01 is a Saturday: 1W moves forward to Monday the 3rd, not back into July.
    expect(runs({ cron: "cron(0 10 1W 8 ? 2026)" }, "2026-01-01T00:00:00Z", 1)).toEqual(["2026-08-03T10:00:00.000Z"]);
    // 2026-05-31 is a Sunday: LW is Friday the 29th.
    expect(runs({ cron: "cron(0 10 LW 5 ? 2026)" }, "2026-01-01T00:00:00Z", 1)).toEqual(["2026-05-29T10:00:00.000Z"]);
  });

  it("nextRuns: reads AWS # as the nth weekday of the month", () => {
    // 3#2 is the second Tuesday.
    expect(runs({ cron: "cron(0 10 ? * 3#2 *)" }, "2026-03-28T00:00:00Z", 2)).toEqual([
      "2026-04-14T10:00:00.000Z",
      "2026-05-12T10:00:00.000Z",
    ]);
  });

  it("nextRuns: reads AWS 5/20 as every 20 from 5", () => {
    expect(runs({ cron: "cron(5/20 * * * ? *)" }, "2026-01-01T00:00:00Z", 4)).toEqual([
      "2026-01-01T00:05:00.000Z",
      "2026-01-01T00:25:00.000Z",
      "2026-01-01T00:45:00.000Z",
      "2026-01-01T01:05:00.000Z",
    ]);
  });

  it("nextRuns: stops at the end of an AWS year field", () => {
    expect(runs({ cron: "cron(0 0 1 1 ? 2027-2028)" }, "2026-03-01T00:00:00Z", 5)).toEqual([
      "2027-01-01T00:00:00.000Z",
      "2028-01-01T00:00:00.000Z",
    ]);
  });

  it("nextRuns: returns count 0 as no runs", () => {
    expect(runs({ every: "5m" }, "2026-01-01T00:00:00Z", 0)).toEqual([]);
  });
});

describe("nextRuns: rate and every", () => {
  it("nextRuns: fires rate at whole multiples of the interval since the epoch", () => {
    expect(runs({ rate: "rate(5 minutes)" }, "2026-03-28T12:03:27Z", 2)).toEqual([
      "2026-03-28T12:05:00.000Z",
      "2026-03-28T12:10:00.000Z",
    ]);
    const seven = nextRuns({ rate: "rate(7 minutes)" }, { from: new Date("2026-03-28T12:03:27Z"), count: 3 });
    for (const run of seven) expect(run.getTime() % 420_000).toBe(0);
    const [first] = seven;
    expect(first && first.getTime() - Date.parse("2026-03-28T12:03:27Z")).toBeLessThanOrEqual(420_000);
    expect(runs({ rate: "rate(1 day)" }, "2026-03-28T12:00:00Z", 1)).toEqual(["2026-03-29T00:00:00.000Z"]);
  });

  it("nextRuns: fires every at whole multiples since the epoch, whatever the time zone", () => {
    const utc = runs({ every: "90m" }, "2026-03-29T00:10:00Z", 4);
    expect(utc).toEqual([
      "2026-03-29T01:30:00.000Z",
      "2026-03-29T03:00:00.000Z",
      "2026-03-29T04:30:00.000Z",
      "2026-03-29T06:00:00.000Z",
    ]);
    expect(runs({ every: "90m", timezone: "Europe/Berlin" }, "2026-03-29T00:10:00Z", 4)).toEqual(utc);
    expect(runs({ every: "1.5 hours", timezone: "America/New_York" }, "2026-03-29T00:10:00Z", 4)).toEqual(utc);
    expect(runs({ every: "1s" }, "2026-03-29T00:10:00.250Z", 2)).toEqual([
      "2026-03-29T00:10:01.000Z",
      "2026-03-29T00:10:02.000Z",
    ]);
  });
});

describe("nextRuns: daylight saving time", () => {
  const berlin = (cron: string): ScheduleExpression => ({ cron, timezone: "Europe/Berlin" });
  const newYork = (cron: string): ScheduleExpression => ({ cron, timezone: "America/New_York" });

  it("nextRuns: shifts a wall time that spring-forward skips by the gap (Europe/Berlin)", () => {
    // 2026-03-29 02:00 CET becomes 03:00 CEST.
    expect(wallRuns(berlin("30 2 * * *"), "2026-03-28T12:00:00Z", 2)).toEqual([
      "2026-03-29 03:30:00 CEST",
      "2026-03-30 02:30:00 CEST",
    ]);
    expect(runs(berlin("30 2 * * *"), "2026-03-28T12:00:00Z", 1)).toEqual(["2026-03-29T01:30:00.000Z"]);
    expect(wallRuns(berlin("0 2 * * *"), "2026-03-28T12:00:00Z", 2)).toEqual([
      "2026-03-29 03:00:00 CEST",
      "2026-03-30 02:00:00 CEST",
    ]);
  });

  it("nextRuns: fires a wall time that fall-back repeats once, at its first occurrence (Europe/Berlin)", () => {
    // 2026-10-25 03:00 CEST becomes 02:00 CET.
    expect(runs(berlin("30 2 * * *"), "2026-10-24T12:00:00Z", 2)).toEqual([
      "2026-10-25T00:30:00.000Z",
      "2026-10-26T01:30:00.000Z",
    ]);
    expect(wallRuns(berlin("30 2 * * *"), "2026-10-24T12:00:00Z", 1)).toEqual(["2026-10-25 02:30:00 CEST"]);
    // Counting from between the two occurrences does not find the second one.
    expect(runs(berlin("30 2 * * *"), "2026-10-25T00:45:00Z", 1)).toEqual(["2026-10-26T01:30:00.000Z"]);
    expect(runs(berlin("0 2 * * *"), "2026-10-24T12:00:00Z", 2)).toEqual([
      "2026-10-25T00:00:00.000Z",
      "2026-10-26T01:00:00.000Z",
    ]);
  });

  it("nextRuns: runs hourly schedules once per instant across spring-forward", () => {
    // 02:00 is shifted to 03:00, which runs anyway: one run, not two.
    expect(wallRuns(berlin("0 * * * *"), "2026-03-28T23:30:00Z", 4)).toEqual([
      "2026-03-29 01:00:00 CET",
      "2026-03-29 03:00:00 CEST",
      "2026-03-29 04:00:00 CEST",
      "2026-03-29 05:00:00 CEST",
    ]);
  });

  it("nextRuns: runs hourly schedules through the repeated hour once across fall-back", () => {
    expect(runs(berlin("0 * * * *"), "2026-10-24T23:30:00Z", 3)).toEqual([
      "2026-10-25T00:00:00.000Z",
      "2026-10-25T02:00:00.000Z",
      "2026-10-25T03:00:00.000Z",
    ]);
    expect(wallRuns(berlin("*/30 * * * *"), "2026-10-25T00:10:00Z", 3)).toEqual([
      "2026-10-25 02:30:00 CEST",
      "2026-10-25 03:00:00 CET",
      "2026-10-25 03:30:00 CET",
    ]);
  });

  it("nextRuns: shifts a skipped wall time and repeats none in America/New_York", () => {
    // 2026-03-08 02:00 EST becomes 03:00 EDT; 2026-11-01 02:00 EDT becomes 01:00 EST.
    expect(wallRuns(newYork("30 2 * * *"), "2026-03-07T12:00:00Z", 2)).toEqual([
      "2026-03-08 03:30:00 EDT",
      "2026-03-09 02:30:00 EDT",
    ]);
    expect(runs(newYork("30 1 * * *"), "2026-10-31T12:00:00Z", 2)).toEqual([
      "2026-11-01T05:30:00.000Z",
      "2026-11-02T06:30:00.000Z",
    ]);
    expect(wallRuns(newYork("0 * * * *"), "2026-11-01T04:30:00Z", 3)).toEqual([
      "2026-11-01 01:00:00 EDT",
      "2026-11-01 02:00:00 EST",
      "2026-11-01 03:00:00 EST",
    ]);
  });

  it("nextRuns: orders runs by instant when a shifted wall time lands after a later one", () => {
    // Lord Howe springs forward by 30 minutes, 02:00 → 02:30: 02:20 runs at 02:50, after 02:40.
    expect(runs({ cron: "20,40 2 * * *", timezone: "Australia/Lord_Howe" }, "2026-10-03T12:00:00Z", 3)).toEqual([
      "2026-10-03T15:40:00.000Z",
      "2026-10-03T15:50:00.000Z",
      "2026-10-04T15:20:00.000Z",
    ]);
  });

  it("nextRuns: runs a seconds schedule straight through the gap", () => {
    expect(wallRuns(berlin("* * * * * *"), "2026-03-29T00:59:58Z", 3)).toEqual([
      "2026-03-29 01:59:59 CET",
      "2026-03-29 03:00:00 CEST",
      "2026-03-29 03:00:01 CEST",
    ]);
  });

  it("nextRuns: fires the wall time that follows a repeated hour, from inside its second pass", () => {
    // Found by the property below: from 01:00 EST (the second 01:00), 02:00 EST comes next.
    const runs = nextRuns(
      { cron: "0,1 2,1 * * *", timezone: "America/New_York" },
      { from: new Date("2026-11-01T06:00:00Z"), count: 3 },
    );
    expect(runs.map((d) => d.toISOString())).toEqual([
      "2026-11-01T07:00:00.000Z",
      "2026-11-01T07:01:00.000Z",
      "2026-11-02T06:00:00.000Z",
    ]);
  });

  it("nextRuns: agrees with a brute-force walk over wall-clock minutes", () => {
    const transitions = [
      ["Europe/Berlin", "2026-03-29T01:00:00Z"],
      ["Europe/Berlin", "2026-10-25T01:00:00Z"],
      ["America/New_York", "2026-03-08T07:00:00Z"],
      ["America/New_York", "2026-11-01T06:00:00Z"],
      ["Australia/Lord_Howe", "2026-10-03T15:30:00Z"],
      ["Australia/Lord_Howe", "2026-04-04T15:00:00Z"],
    ] as const;
    const schedule = fc.record({
      transition: fc.constantFrom(...transitions),
      minutes: fc.uniqueArray(fc.integer({ min: 0, max: 59 }), { minLength: 1, maxLength: 4 }),
      // Every transition here happens at 01:00-02:59 local time, so make those hours likely.
      hours: fc
        .tuple(fc.constantFrom(1, 2), fc.uniqueArray(fc.integer({ min: 0, max: 23 }), { maxLength: 4 }))
        .map(([near, others]) => [...new Set([near, ...others])]),
      shiftMinutes: fc.integer({ min: -30 * 60, max: 30 * 60 }),
    });
    fc.assert(
      fc.property(schedule, ({ transition: [timezone, at], minutes, hours, shiftMinutes }) => {
        const from = Date.parse(at) + shiftMinutes * 60_000;
        const cron = `${minutes.join(",")} ${hours.join(",")} * * *`;
        const actual = nextRuns({ cron, timezone }, { from: new Date(from), count: 3 }).map((d) => d.getTime());
        const expected: number[] = [];
        let cursor = from;
        for (let i = 0; i < 3; i++) {
          cursor = bruteForceNext(new Set(minutes), new Set(hours), timezone, cursor);
          expected.push(cursor);
        }
        expect(actual.map(iso), cron).toEqual(expected.map(iso));
      }),
      { numRuns: 300 },
    );
  }, 30_000);
});

describe("compileSchedule", () => {
  it("compileSchedule: answers next() repeatedly the same as nextRuns", () => {
    const expr = { cron: "*/15 9-17 * * MON-FRI", timezone: "Europe/Berlin" };
    const compiled = compileSchedule(expr);
    let cursor: Date | null = new Date("2026-03-27T15:50:00Z");
    const chained: string[] = [];
    for (let i = 0; i < 5 && cursor !== null; i++) {
      cursor = compiled.next(cursor);
      if (cursor) chained.push(cursor.toISOString());
    }
    expect(chained).toEqual(runs(expr, "2026-03-27T15:50:00Z", 5));
    // Friday 17:00-17:45 CET, then Monday 09:00, already CEST.
    expect(chained[4]).toBe("2026-03-30T07:00:00.000Z");
  });

  it("compileSchedule: returns null when the schedule never fires again", () => {
    expect(compileSchedule({ cron: "cron(0 0 1 1 ? 1999)" }).next(new Date("2026-01-01T00:00:00Z"))).toBeNull();
    expect(compileSchedule({ cron: "0 0 30 2 *" }).next(new Date("2026-01-01T00:00:00Z"))).toBeNull();
  });

  it("compileSchedule: throws NIMBUS_SCHEDULE_INVALID with every problem", () => {
    const thrown = catchError(() => compileSchedule({ cron: "61 * * *", every: "5m", timezone: "Mars/Olympus" }));
    expect(NimbusError.is(thrown)).toBe(true);
    expect((thrown as NimbusError).code).toBe("NIMBUS_SCHEDULE_INVALID");
    expect((thrown as NimbusError).kind).toBe("user");
    expect((thrown as ScheduleError).problems.map((problem) => problem.field)).toEqual(["", "cron", "timezone"]);
    expect((thrown as Error).message).toContain('found 4 fields in "61 * * *"');
  });

  it("nextRuns: throws NIMBUS_SCHEDULE_INVALID for an invalid expression", () => {
    const thrown = catchError(() => nextRuns({ rate: "rate(1 hours)" }, { from: new Date(), count: 1 }));
    expect(NimbusError.is(thrown) && thrown.code).toBe("NIMBUS_SCHEDULE_INVALID");
  });
});

function catchError(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error("expected an error");
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/**
 * The DST rule written out the slow way, independently of next-runs.ts: walk every
 * wall-clock minute around `after`, map each matching one to the instants that show that
 * wall time (the earliest when there are two; shifted by the gap when there are none),
 * and take the earliest instant after `after`.
 */
function bruteForceNext(minutes: Set<number>, hours: Set<number>, timezone: string, after: number): number {
  const hourMs = 3_600_000;
  const offsets = new Set<number>();
  for (let h = -30; h <= 30; h++) offsets.add(offsetAt(after + h * hourMs, timezone));
  const wallOfAfter = after + offsetAt(after, timezone);
  const firstMinute = Math.floor((wallOfAfter - 3 * hourMs) / 60_000) * 60_000;
  let best = Number.POSITIVE_INFINITY;
  for (let wall = firstMinute; wall < wallOfAfter + 27 * hourMs; wall += 60_000) {
    const date = new Date(wall);
    if (!minutes.has(date.getUTCMinutes()) || !hours.has(date.getUTCHours())) continue;
    const showing = [...offsets].map((offset) => wall - offset).filter((i) => i + offsetAt(i, timezone) === wall);
    const instant = showing.length > 0 ? Math.min(...showing) : wall - Math.min(...offsets);
    if (instant > after && instant < best) best = instant;
  }
  return best;
}
