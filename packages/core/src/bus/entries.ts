import { z } from "zod";
import { NimbusError } from "../errors/nimbus-error.ts";
import { busLimits } from "../limits.ts";
import type { PutEntry } from "../pattern/event.ts";
import { formatSize } from "../units/size.ts";

/**
 * The checks of `put` entries, the same on every target: their shape (entries arrive
 * from handlers, the control API and tests, so nothing is trusted), their size, and the
 * bus's detail schemas. A put is all or none: the first bad entry refuses the whole
 * call, naming the entry and field. The emulator runs them in its bus service; the
 * deployed host, which has no server in between, runs them in the client's transport.
 */

const entrySchema = z.strictObject({
  source: z.string().min(1),
  detailType: z.string().min(1),
  // Optional here so that a missing detail gets the message below rather than zod's.
  detail: z.unknown().optional(),
  resources: z.array(z.string()).optional(),
  time: z.union([z.date(), z.string()]).optional(),
});

const encoder = new TextEncoder();

/** Fields people write from EventBridge habits, and what we call them. */
const renamed: Record<string, string> = {
  "detail-type": "detailType",
  DetailType: "detailType",
  Source: "source",
  Detail: "detail",
  Resources: "resources",
  Time: "time",
};

/** Checks one bus's entries against its per-detail-type schemas (null: any event). */
export type DetailCheck = (entry: PutEntry, index: number) => void;

/** The check of bus `bus`'s entries against `schema` (its spec's), built once per bus. */
export function detailCheck(bus: string, schema: Record<string, Record<string, unknown>> | null): DetailCheck {
  if (!schema) return () => {};
  const parsers = new Map(
    Object.entries(schema).map(([type, json]) => [
      type,
      z.fromJSONSchema(json as Parameters<typeof z.fromJSONSchema>[0]),
    ]),
  );
  return (entry, index) => {
    const parser = parsers.get(entry.detailType);
    if (!parser) {
      const known = [...parsers.keys()].map((type) => `"${type}"`).join(", ");
      throw new NimbusError(
        "NIMBUS_BUS_SCHEMA",
        `bus "${bus}": entry ${index + 1} has detailType "${entry.detailType}", which the bus's schema does not name (it takes ${known}). Use one of those, or add "${entry.detailType}" to the bus's schema in the app file.`,
      );
    }
    const result = parser.safeParse(entry.detail);
    if (result.success) return;
    const problems = result.error.issues.map(
      (issue) => `detail${issue.path.map((p) => `.${String(p)}`).join("")}: ${issue.message}`,
    );
    throw new NimbusError(
      "NIMBUS_BUS_SCHEMA",
      `bus "${bus}": entry ${index + 1} (${entry.detailType}) does not match the bus's schema (${problems.join("; ")}). Fix the detail, or the schema in the app file.`,
    );
  };
}

/**
 * Reads `entries` as a `put` takes them: a list of at most `busLimits.maxEntries` `{ source, detailType,
 * detail, resources?, time? }`, each at most `busLimits.maxEntrySize` bytes as JSON, each matching `check`.
 */
export function readEntries(bus: string, entries: unknown, check: DetailCheck): PutEntry[] {
  if (!Array.isArray(entries)) {
    throw new NimbusError(
      "NIMBUS_BUS_ENTRIES",
      `bus "${bus}": put takes a list of entries, e.g. put([{ source: "shop.api", detailType: "OrderPaid", detail: { id: 1 } }]); found ${describe(entries)}.`,
    );
  }
  if (entries.length > busLimits.maxEntries) {
    throw new NimbusError(
      "NIMBUS_BUS_ENTRIES",
      `bus "${bus}": put takes at most ${busLimits.maxEntries} entries, as EventBridge's PutEvents; found ${entries.length}. Put them in batches of ${busLimits.maxEntries}.`,
    );
  }
  return entries.map((raw, index) => {
    const entry = readEntry(bus, raw, index);
    check(entry, index);
    return entry;
  });
}

function readEntry(bus: string, raw: unknown, index: number): PutEntry {
  const at = `bus "${bus}": entry ${index + 1}`;
  if (typeof raw === "object" && raw !== null && !Array.isArray(raw)) {
    for (const key of Object.keys(raw)) {
      const hint = renamed[key];
      if (hint) {
        throw new NimbusError(
          "NIMBUS_BUS_ENTRY",
          `${at} has a field "${key}"; entries name it ${hint} (the event that rules see has "${hint === "detailType" ? "detail-type" : hint}"). Rename the field.`,
        );
      }
    }
  }
  const parsed = entrySchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const field = issue.path.map(String).join(".");
      return field ? `${field}: ${issue.message}` : issue.message;
    });
    throw new NimbusError(
      "NIMBUS_BUS_ENTRY",
      `${at} is not an entry (${problems.join("; ")}). Write { source: string, detailType: string, detail: any JSON, resources?: string[], time?: Date | ISO string }.`,
    );
  }
  const entry = parsed.data as PutEntry;
  if (entry.detail === undefined) {
    throw new NimbusError(
      "NIMBUS_BUS_ENTRY",
      `${at} has no detail; give it one, e.g. detail: {} for an event with no data.`,
    );
  }
  if (entry.time !== undefined && Number.isNaN(new Date(entry.time).getTime())) {
    throw new NimbusError(
      "NIMBUS_BUS_ENTRY",
      `${at}: time ${JSON.stringify(entry.time)} is not a date; pass a Date or an ISO 8601 string such as 2026-01-01T00:00:00Z, or leave it out for now.`,
    );
  }
  let size: number;
  try {
    size = encoder.encode(JSON.stringify(entry)).length;
  } catch (error) {
    throw new NimbusError("NIMBUS_BUS_ENTRY", `${at}: detail cannot be written as JSON (${(error as Error).message}).`);
  }
  if (size > busLimits.maxEntrySize) {
    throw new NimbusError(
      "NIMBUS_BUS_ENTRY_TOO_LARGE",
      `${at} is ${size.toLocaleString("en")} bytes as JSON; an entry is at most ${busLimits.maxEntrySize.toLocaleString("en")} (${formatSize(busLimits.maxEntrySize)}), as in EventBridge. Store large data in a bucket and put its key.`,
    );
  }
  return entry;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "object" ? "an object (wrap one entry in [ ])" : typeof value;
}
