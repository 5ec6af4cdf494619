import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { busLimits, busSettings, loopLimits, queueLimits, queueSettings, scheduleLimits } from "./limits.ts";
import { parseDuration } from "./units/duration.ts";
import { parseSize } from "./units/size.ts";

/** The doc every target is tested against; its tables must say what the constants hold. */
const semantics = readFileSync(new URL("../../../docs/semantics.md", import.meta.url), "utf8");

/** The text of `## <title>` up to the next `## `. */
function section(title: string): string {
  const start = semantics.indexOf(`\n## ${title}\n`);
  if (start < 0) throw new Error(`docs/semantics.md has no section "## ${title}"`);
  const end = semantics.indexOf("\n## ", start + 1);
  return semantics.slice(start, end < 0 ? undefined : end);
}

interface Row {
  default: string;
  limits: string;
}

/** The "Defaults and limits" table of a section, by setting (backticks dropped). */
function limitsTable(title: string): Map<string, Row> {
  const text = section(title);
  const start = text.indexOf("### Defaults and limits");
  if (start < 0) throw new Error(`section "${title}" has no "### Defaults and limits"`);
  const rows = new Map<string, Row>();
  for (const line of text.slice(start).split("\n").slice(1)) {
    if (line.startsWith("### ")) break;
    if (!line.startsWith("|") || /^\|[\s|-]+\|$/.test(line)) continue;
    const [setting = "", fallback = "", limits = ""] = line
      .split("|")
      .slice(1, -1)
      .map((cell) => cell.trim());
    if (setting === "setting") continue;
    rows.set(setting.replaceAll("`", ""), { default: fallback, limits });
  }
  return rows;
}

/** A number as the doc writes it: a count, a duration or a size, in ms or bytes. */
function value(text: string | number): number {
  if (typeof text === "number") return text;
  const parsed = /^\d+$/.test(text) ? Number(text) : (parseDuration(text) ?? parseSize(text));
  if (parsed === undefined) throw new Error(`"${text}" is no number, duration or size`);
  return parsed;
}

/** `"1s to 12h, at most \`max\`"` → [1000, 43200000]; a single value is a maximum. */
function range(text: string): { min?: number; max: number } {
  const [bounds = ""] = text.split(",");
  const parts = bounds.split(" to ").map((part) => part.trim());
  return parts.length === 2 ? { min: value(parts[0]!), max: value(parts[1]!) } : { max: value(parts[0]!) };
}

type SettingOf = { default: string | number; min: string | number; max: string | number };

/**
 * Checks a section's table against `settings`: `names` maps each documented setting to
 * its key there, or to null for one that is not a number (`deadLetter`). Rows without a
 * default are fixed limits, returned for the caller to check.
 */
function expectTable(title: string, settings: Record<string, SettingOf>, names: Record<string, string | null>) {
  const table = limitsTable(title);
  const settingRows = [...table].filter(([name, row]) => row.default !== "" && names[name] !== null);
  // Every setting in the code is in the doc, and the other way round.
  expect(settingRows.map(([name]) => names[name] ?? `(not in code) ${name}`).sort()).toEqual(
    Object.keys(settings).sort(),
  );
  for (const [name, row] of settingRows) {
    const setting = settings[names[name]!]!;
    expect(value(row.default), `${title} ${name}: default`).toBe(value(setting.default));
    expect(range(row.limits), `${title} ${name}: limits`).toEqual({ min: value(setting.min), max: value(setting.max) });
  }
  return table;
}

describe("docs/semantics.md defaults and limits", () => {
  test("queues: the table holds every queue setting with the default and range of queueSettings (§queues/limits)", () => {
    expectTable("Queues", queueSettings, {
      visibilityTimeout: "visibilityTimeout",
      "delivery.maxAttempts": "maxAttempts",
      "delivery.backoff.initial": "backoffInitial",
      "delivery.backoff.max": "backoffMax",
      retention: "retention",
      maxMessageSize: "maxMessageSize",
      batchSize: "batchSize",
      maxBatchWait: "maxBatchWait",
      concurrency: "concurrency",
      deadLetter: null,
    });
  });

  test("queues: sendBatch's most messages and the longest delay are queueLimits' (§queues/limits/6, §queues/delays/2)", () => {
    const text = section("Queues");
    expect(Number(/`sendBatch` takes at most (\d+) messages/.exec(text)?.[1])).toBe(queueLimits.maxBatchSend);
    expect(value(/or a number of seconds, from 0s to (\S+)\./.exec(text)?.[1] ?? "")).toBe(queueLimits.maxDelay);
  });

  test("buses: the table holds every bus setting and put limit as busSettings and busLimits hold them (§bus/limits)", () => {
    const table = expectTable("Event buses", busSettings, {
      "delivery.maxAttempts": "maxAttempts",
      "delivery.backoff.initial": "backoffInitial",
      "delivery.backoff.max": "backoffMax",
      deadLetter: null,
    });
    const limit = (name: string) => range(table.get(name)?.limits ?? "").max;
    expect(limit("entries per put")).toBe(busLimits.maxEntries);
    expect(limit("entry size, as JSON")).toBe(busLimits.maxEntrySize);
    expect(limit("buses an event goes through")).toBe(busLimits.maxHops);
  });

  test("buses: the statements name busLimits' event age, lease margin and hops (§bus/retries/6, §bus/durability/2, §bus/delivery/4)", () => {
    const text = section("Event buses");
    expect(value(/A delivery not done (\d+) hours after/.exec(text)?.[1] ?? "") * 3_600_000).toBe(
      busLimits.maxEventAge,
    );
    expect(value(/`timeout` plus (\d+) s has passed/.exec(text)?.[1] ?? "") * 1_000).toBe(busLimits.leaseMargin);
    expect(value(/forwarded through at most (\d+)\s+buses/.exec(text)?.[1] ?? "")).toBe(busLimits.maxHops);
  });

  test("schedules: a failing run's policy and the late notice are scheduleLimits' (§schedules/firing/5, §schedules/clock/1)", () => {
    const text = section("Schedules");
    const policy = /with the default policy \((\d+) attempts, back-off (\S+) to (\S+)\)/.exec(text);
    expect(policy?.slice(1).map(value)).toEqual([
      scheduleLimits.maxAttempts,
      value(scheduleLimits.backoffInitial),
      value(scheduleLimits.backoffMax),
    ]);
    expect(value(/more than (\d+) s late/.exec(text)?.[1] ?? "") * 1_000).toBe(scheduleLimits.lateAfter);
  });

  test("loops: the statements name loopLimits' most invocations in one chain (§loops/2)", () => {
    const text = section("Recursive loops");
    expect(value(/A chain runs at most (\d+) invocations/.exec(text)?.[1] ?? "")).toBe(loopLimits.maxDepth);
  });
});
