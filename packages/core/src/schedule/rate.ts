import { formatDuration, parseDuration } from "../units/duration.ts";

export type IntervalParse = { ok: true; intervalMs: number } | { ok: false; problem: string };

const unitMs: Readonly<Record<string, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** The shortest `every`: anything shorter is a busy loop, not a schedule. */
export const minimumEveryMs = 1_000;

/**
 * AWS's `rate(value unit)`: a positive whole number and minute(s), hour(s) or day(s), the
 * unit singular for 1 and plural otherwise (AWS rejects `rate(1 hours)` and `rate(5 hour)`).
 */
export function parseRate(text: string): IntervalParse {
  const expression = text.trim();
  const fail = (problem: string): IntervalParse => ({ ok: false, problem });
  const example = 'Example: "rate(5 minutes)"';

  const wrapped = /^rate\((.*)\)$/.exec(expression);
  if (!wrapped) {
    if (/^cron\(/i.test(expression) || expression.split(/\s+/).length >= 5) {
      return fail(`expected rate(value unit); found the cron expression "${expression}". Put it under cron instead.`);
    }
    const ms = parseDuration(expression);
    const fix =
      ms === undefined ? example : `Write "rate(${expression})", or use every: "${expression}" for the readable form`;
    return fail(`expected rate(value unit); found "${expression}". ${fix}`);
  }
  const parts = (wrapped[1] ?? "").trim().split(/\s+/);
  const [valueText = "", unitText = ""] = parts;
  if (parts.length !== 2) {
    return fail(`expected rate(value unit) with a number and a unit; found "${expression}". ${example}`);
  }
  if (!/^\d+$/.test(valueText) || Number(valueText) < 1) {
    return fail(`expected a positive whole number of units; found "${valueText}" in "${expression}". ${example}`);
  }
  const value = Number(valueText);
  const unit = unitText.replace(/s$/, "");
  const size = unitMs[unit];
  if (size === undefined) {
    const fix = /^(second|sec|s|ms)/i.test(unitText)
      ? `A rate is at least a minute; for seconds use every (e.g. every: "${valueText}s").`
      : example;
    return fail(`expected the unit minute(s), hour(s) or day(s); found "${unitText}" in "${expression}". ${fix}`);
  }
  const wanted = value === 1 ? unit : `${unit}s`;
  if (unitText !== wanted) {
    return fail(
      `expected "${wanted}" after ${value} (AWS wants the singular unit for 1 and the plural otherwise); found "${unitText}" in "${expression}". Write "rate(${value} ${wanted})"`,
    );
  }
  return { ok: true, intervalMs: value * size };
}

/** A readable duration such as `"5m"` or `"2 hours"`, at least one second. */
export function parseEvery(text: string): IntervalParse {
  if (/^\s*(rate|cron)\(/i.test(text)) {
    const key = /^\s*rate/i.test(text) ? "rate" : "cron";
    return { ok: false, problem: `expected a duration such as "5m"; found "${text}". Put it under ${key} instead.` };
  }
  const ms = parseDuration(text);
  if (ms === undefined) {
    return {
      ok: false,
      problem: `expected a duration such as "30s", "5m", "5 minutes" or "2 hours"; found "${text}". Write a number followed by ms, s, m, h or d`,
    };
  }
  if (ms < minimumEveryMs) {
    return {
      ok: false,
      problem: `expected at least 1 second; found "${text}" (${ms === 0 ? "0s" : formatDuration(ms)}). Use "1s" or longer`,
    };
  }
  return { ok: true, intervalMs: ms };
}
