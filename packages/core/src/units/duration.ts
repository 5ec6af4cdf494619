/**
 * Readable durations: `"250ms"`, `"30s"`, `"5 minutes"`, `"1.5h"`, `"2 days"`.
 * Specs store milliseconds.
 */
const unitMs = {
  ms: 1,
  millisecond: 1,
  milliseconds: 1,
  s: 1_000,
  sec: 1_000,
  second: 1_000,
  seconds: 1_000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  minutes: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  hours: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  days: 86_400_000,
} as const;

export type DurationUnit = keyof typeof unitMs;
/** A duration string such as `"30s"`, `"5 minutes"` or `"1.5h"`. */
export type Duration = `${number}${DurationUnit}` | `${number} ${DurationUnit}`;

const pattern = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i;

/** Milliseconds for a duration string, or `undefined` when it does not parse. */
export function parseDuration(text: string): number | undefined {
  const match = pattern.exec(text);
  if (!match) return undefined;
  const factor = unitMs[match[2]!.toLowerCase() as DurationUnit];
  if (factor === undefined) return undefined;
  return Math.round(Number(match[1]) * factor);
}

/** `90000` → `"1m30s"`: for messages and tables. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1_000],
    ["ms", 1],
  ] as const) {
    const whole = Math.floor(rest / size);
    if (whole > 0) parts.push(`${whole}${unit}`);
    rest -= whole * size;
  }
  return parts.join("");
}
