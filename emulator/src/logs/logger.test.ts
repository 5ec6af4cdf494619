import { describe, expect, it } from "vitest";
import { type LogFormat, Logger } from "./logger.ts";

function linesOf(format: LogFormat) {
  const lines: string[] = [];
  const logger = new Logger({ format, write: (line) => lines.push(line), keep: 0 });
  return { logger, lines };
}

describe("Logger", () => {
  it("writes each entry as one JSON line with its own time, whatever came before it", () => {
    const { logger, lines } = linesOf("json");
    const times = [
      "2026-12-04T10:00:00.000Z",
      "2026-12-04T10:00:00.000Z",
      "2026-12-04T10:00:00.001Z",
      "2027-01-01T00:00:00.000Z",
    ];
    for (const [i, time] of times.entries())
      logger.log({
        time: new Date(time),
        fn: "hello",
        invocationId: `0000000${i}`,
        level: "info",
        message: `line ${i}`,
      });
    expect(lines.map((line) => JSON.parse(line))).toEqual(
      times.map((time, i) => ({ time, fn: "hello", invocationId: `0000000${i}`, level: "info", message: `line ${i}` })),
    );
  });

  it("leaves out what an entry does not have, and writes an invalid time as null, as JSON writes a Date", () => {
    const { logger, lines } = linesOf("json");
    logger.log({ time: new Date("2026-12-04T10:00:00.000Z"), level: "warn", message: 'a "quoted"\nline' });
    logger.log({ time: new Date(Number.NaN), level: "info", message: "no time" });
    expect(lines).toEqual([
      JSON.stringify({ time: "2026-12-04T10:00:00.000Z", level: "warn", message: 'a "quoted"\nline' }),
      JSON.stringify({ time: null, level: "info", message: "no time" }),
    ]);
  });

  it("stamps entries without a time with the current one, and keeps entries when asked", () => {
    const logger = new Logger({ format: "silent", keep: 2 });
    const before = Date.now();
    logger.info("started");
    expect(logger.entries).toHaveLength(1);
    expect(logger.entries[0]!.time.getTime()).toBeGreaterThanOrEqual(before);
    expect(logger.entries[0]).toMatchObject({ level: "info", message: "started" });
  });

  it("prints the time of day, the function and the invocation in the pretty format", () => {
    const { logger, lines } = linesOf("pretty");
    logger.log({
      time: new Date("2026-12-04T10:11:12.345Z"),
      fn: "hello",
      invocationId: "1a2b3c4d",
      level: "info",
      message: "GET / 200 1ms",
    });
    logger.log({ time: new Date("2026-12-04T10:11:12.346Z"), level: "info", message: "ready" });
    expect(lines).toEqual(["10:11:12.345 [hello 1a2b3c4d] GET / 200 1ms", "10:11:12.346 [nimbus] ready"]);
  });
});
