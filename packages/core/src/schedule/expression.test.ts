import { describe, expect, it } from "vitest";
import { describeSchedule, scheduleProblems } from "./expression.ts";

const messages = (expr: unknown, field?: string) =>
  scheduleProblems(expr)
    .filter((problem) => field === undefined || problem.field === field)
    .map((problem) => problem.message);

describe("scheduleProblems", () => {
  it("scheduleProblems: accepts each cron form", () => {
    const valid = [
      "0 2 * * *",
      "*/5 9-17 * * MON-FRI",
      "0 0 1,15 JAN,JUL 0",
      "0 9 * * 5L",
      "0 9 * * MON#1",
      "0 9 L * *",
      "0 9 15W * *",
      "30 */10 * * * *",
      "cron(0 10 * * ? *)",
      "cron(15 10 ? * 6L 2026-2030)",
      "cron(0/15 * ? * MON-FRI *)",
      "cron(0 8 1W * ? *)",
      "cron(0 8 LW * ? *)",
      "cron(0 10 ? * 3#2 *)",
      "cron(0 10 ? * L *)",
      "  0 2 * * *  ",
    ];
    for (const cron of valid) expect(scheduleProblems({ cron }), cron).toEqual([]);
  });

  it("scheduleProblems: reports a wrong number of fields with an example", () => {
    expect(scheduleProblems({ cron: "0 2 * *" })).toEqual([
      {
        field: "cron",
        message:
          'expected a cron expression with 5 or 6 fields or cron(min hour day-of-month month day-of-week year); found 4 fields in "0 2 * *". Example: "0 2 * * *"',
      },
    ]);
    expect(messages({ cron: "cron(0 2 * * ?)" })).toEqual([
      'expected 6 fields in cron(min hour day-of-month month day-of-week year); found 5 in "cron(0 2 * * ?)". Add the year field: "cron(0 2 * * ? *)"',
    ]);
    expect(messages({ cron: "" })[0]).toContain("found an empty string");
  });

  it("scheduleProblems: reports every bad field of a cron expression", () => {
    expect(messages({ cron: "61 */90 * * 8" })).toEqual([
      'expected a minute (0-59); found "61" in "61 */90 * * 8". Use 0-59.',
      'expected a step from 1 to 23 in the hour field; found "/90" in "61 */90 * * 8". A cron step cannot reach past the end of its field; for a longer interval use every (e.g. every: "90m").',
      'expected a day-of-week (0-7 where 0 and 7 are Sunday, or SUN-SAT); found "8" in "61 */90 * * 8". Use 0-7 where 0 and 7 are Sunday, or SUN-SAT.',
    ]);
    expect(messages({ cron: "0 22-2 * * *" })[0]).toContain("Ranges do not wrap around; write 22-23,0-2 instead.");
    expect(messages({ cron: "0 0 L,1 * *" })[0]).toContain("L and W cannot be combined with other days");
    expect(messages({ cron: "0 0 * * 1#6" })[0]).toContain("expected an occurrence from 1 to 5 after #");
    expect(messages({ cron: "0 0 * * L" })[0]).toContain("expected a weekday before L");
  });

  it("scheduleProblems: requires ? in exactly one AWS day field", () => {
    expect(messages({ cron: "cron(0 9 * * MON-FRI *)" })).toEqual([
      'expected ? in exactly one of day-of-month and day-of-week (the AWS form needs one of them unset); found "*" and "MON-FRI" in "cron(0 9 * * MON-FRI *)". Write cron(0 9 ? * MON-FRI *).',
    ]);
    expect(messages({ cron: "cron(0 9 ? * ? *)" })[0]).toContain("For every day write cron(0 9 * * ? *).");
    expect(messages({ cron: "cron(0 9 1 * MON *)" })[0]).toContain(
      "AWS cannot combine a day of the month with a day of the week",
    );
  });

  it("scheduleProblems: numbers AWS days of the week 1-7 from Sunday", () => {
    expect(messages({ cron: "cron(0 9 ? * 0 *)" })).toEqual([
      'expected a day-of-week (1-7 where 1 is Sunday and 7 Saturday, or SUN-SAT); found "0" in "cron(0 9 ? * 0 *)". Use 1-7 where 1 is Sunday and 7 Saturday, or SUN-SAT.',
    ]);
    expect(messages({ cron: "cron(0 9 ? * 1-7 *)" })).toEqual([]);
    expect(messages({ cron: "cron(0 9 ? * */2 *)" })[0]).toContain("takes no step");
    expect(messages({ cron: "cron(0 9 * * ? 1969)" })[0]).toContain("expected a year (1970-2199)");
  });

  it("scheduleProblems: points an AWS expression written without cron(...) at the AWS form", () => {
    expect(messages({ cron: "0 10 * * ? *" })).toEqual([
      'expected 6 fields with seconds first (sec min hour day-of-month month day-of-week); found "0 10 * * ? *", which reads as the AWS form (min hour day-of-month month day-of-week year). Write "cron(0 10 * * ? *)"',
    ]);
  });

  it("scheduleProblems: points a rate in cron, and a nickname, at what to write", () => {
    expect(messages({ cron: "rate(5 minutes)" })[0]).toContain(
      'Put it under rate instead: { rate: "rate(5 minutes)" }',
    );
    expect(messages({ cron: "@daily" })[0]).toContain('Write "0 0 * * *"');
  });

  it("scheduleProblems: requires exactly one of cron, rate and every", () => {
    expect(scheduleProblems({})).toEqual([
      {
        field: "",
        message:
          'expected exactly one of cron, rate or every; found none. Example: { cron: "0 2 * * *" } or { every: "5m" }',
      },
    ]);
    expect(scheduleProblems({ cron: "0 2 * * *", every: "5m" })).toEqual([
      { field: "", message: "expected exactly one of cron, rate or every; found cron and every. Keep one of them" },
    ]);
    expect(messages({ timezone: "UTC" }, "")).toHaveLength(1);
    expect(scheduleProblems({ cron: undefined, every: "5m" })).toEqual([]);
  });

  it("scheduleProblems: rejects values of the wrong type", () => {
    expect(scheduleProblems({ cron: 5 })).toEqual([
      { field: "cron", message: 'expected a string; found number 5. Example: "0 2 * * *"' },
    ]);
    expect(scheduleProblems("0 2 * * *")).toEqual([
      {
        field: "",
        message:
          'expected an object with one of cron, rate or every; found "0 2 * * *". Example: { cron: "0 2 * * *" }',
      },
    ]);
    expect(messages(null, "")).toHaveLength(1);
  });

  it("scheduleProblems: rejects an unknown time zone", () => {
    expect(scheduleProblems({ cron: "0 2 * * *", timezone: "Mars/Olympus" })).toEqual([
      {
        field: "timezone",
        message:
          'expected an IANA time zone name; found the unknown time zone "Mars/Olympus". Use a name from the IANA time zone database such as "Europe/Berlin", "America/New_York" or "UTC"',
      },
    ]);
    expect(messages({ cron: "0 2 * * *", timezone: "Berlin" }, "timezone")[0]).toContain(
      'Did you mean "Europe/Berlin"?',
    );
    expect(messages({ cron: "0 2 * * *", timezone: "europe/berlin" }, "timezone")[0]).toContain(
      'Write "Europe/Berlin"',
    );
    expect(messages({ cron: "0 2 * * *", timezone: "+01:00" }, "timezone")[0]).toContain("found the UTC offset");
    expect(messages({ cron: "0 2 * * *", timezone: 1 }, "timezone")[0]).toContain("found number 1");
    expect(scheduleProblems({ cron: "0 2 * * *", timezone: "America/New_York" })).toEqual([]);
    expect(scheduleProblems({ every: "5m", timezone: "Asia/Tokyo" })).toEqual([]);
  });

  it("scheduleProblems: reads rate as AWS does, singular for 1 and plural otherwise", () => {
    for (const rate of [
      "rate(1 minute)",
      "rate(5 minutes)",
      "rate(1 hour)",
      "rate(12 hours)",
      "rate(1 day)",
      "rate(7 days)",
    ]) {
      expect(scheduleProblems({ rate }), rate).toEqual([]);
    }
    expect(messages({ rate: "rate(1 hours)" })).toEqual([
      'expected "hour" after 1 (AWS wants the singular unit for 1 and the plural otherwise); found "hours" in "rate(1 hours)". Write "rate(1 hour)"',
    ]);
    expect(messages({ rate: "rate(5 minute)" })[0]).toContain('Write "rate(5 minutes)"');
    expect(messages({ rate: "rate(0 minutes)" })[0]).toContain("expected a positive whole number");
    expect(messages({ rate: "rate(1.5 hours)" })[0]).toContain("expected a positive whole number");
    expect(messages({ rate: "rate(30 seconds)" })[0]).toContain('for seconds use every (e.g. every: "30s")');
    expect(messages({ rate: "5 minutes" })[0]).toContain('Write "rate(5 minutes)", or use every: "5 minutes"');
  });

  it("scheduleProblems: requires every to be a duration of at least 1 second", () => {
    for (const every of ["1s", "5m", "5 minutes", "1.5h", "2 days"])
      expect(scheduleProblems({ every }), every).toEqual([]);
    expect(messages({ every: "500ms" })).toEqual([
      'expected at least 1 second; found "500ms" (500ms). Use "1s" or longer',
    ]);
    expect(messages({ every: "5 fortnights" })[0]).toContain('expected a duration such as "30s"');
    expect(messages({ every: "rate(5 minutes)" })[0]).toContain("Put it under rate instead.");
  });
});

describe("describeSchedule", () => {
  it("describeSchedule: names the form, the expression and the zone cron is read in", () => {
    expect(describeSchedule({ cron: "0 2 * * *", timezone: "Europe/Berlin" })).toBe(
      'cron "0 2 * * *" in Europe/Berlin',
    );
    expect(describeSchedule({ cron: "cron(0 2 * * ? *)" })).toBe('cron "cron(0 2 * * ? *)" in UTC');
    expect(describeSchedule({ rate: "rate(5 minutes)" })).toBe("rate(5 minutes)");
    expect(describeSchedule({ every: "5 minutes" })).toBe("every 5m");
    expect(describeSchedule({ every: "90m" })).toBe("every 1h30m");
  });
});
