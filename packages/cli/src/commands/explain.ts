import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { text } from "node:stream/consumers";
import { type EventPattern, explain, type Graph, NimbusError, type ResourceOf, toEvent } from "@nimbus/core";
import { loadApp } from "@nimbus/emulator";
import type { Output } from "../output.ts";

/**
 * `nimbus explain [dir] <bus>/<rule> <event.json>`: whether a rule's pattern matches an event
 * and, if not, which field and operator rejected it and why. Offline: it only loads the app.
 * Resolves with 0 on a match and 1 on a mismatch, so scripts can branch on it.
 */
export async function explainCommand(
  args: { dir: string; rule: string; event: string },
  output: Output,
): Promise<number> {
  const event = await readEvent(args.event);
  const { graph } = await loadApp(args.dir);
  const rule = findRule(graph, args.rule);
  const pattern = rule.spec.pattern as EventPattern;
  const result = explain(pattern, event);
  if (result.matched) {
    output.out(`✔ ${rule.name} matches the event`);
    return 0;
  }
  const wanted = wantedAt(pattern, result.path);
  const where = result.path === "" ? "the event" : result.path;
  const test = wanted === undefined ? result.operator : `${result.operator} ${describeWanted(result.operator, wanted)}`;
  output.out(`✖ ${rule.name} does not match: at ${where}, ${test}: ${result.reason}`);
  if (!envelopeKeys.some((key) => key in event)) {
    output.out(
      `  note: the event has none of ${envelopeKeys.map((key) => `"${key}"`).join(", ")}; pass the whole event as rules see it, not only its detail.`,
    );
  }
  output.out(`  pattern of ${rule.name}:`);
  output.out(indent(formatPattern(pattern, ""), "  "));
  return 1;
}

const envelopeKeys = ["source", "detail-type", "detail"] as const;

/** Reads and parses the event from a file, or stdin for `-`, with errors that name where. */
async function readEvent(path: string): Promise<Record<string, unknown>> {
  const from = path === "-" ? "stdin" : path;
  let source: string;
  if (path === "-") {
    if (process.stdin.isTTY) {
      throw new NimbusError(
        "NIMBUS_CLI_EVENT_FILE",
        "- reads the event from stdin, but nothing is piped in; e.g. `cat event.json | nimbus explain orders/paid -`.",
      );
    }
    source = await text(process.stdin);
  } else {
    try {
      source = await readFile(path, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new NimbusError(
        "NIMBUS_CLI_EVENT_FILE",
        code === "ENOENT"
          ? `No event file at ${resolve(path)}. Pass the path of a JSON file holding the event, or - to read it from stdin.`
          : `Could not read the event file ${resolve(path)}: ${(error as Error).message}`,
      );
    }
  }
  if (source.trim() === "") {
    throw new NimbusError("NIMBUS_CLI_EVENT_JSON", `${from} is empty; it must hold the event as JSON.`);
  }
  let event: unknown;
  try {
    event = JSON.parse(source);
  } catch (error) {
    throw new NimbusError("NIMBUS_CLI_EVENT_JSON", `${from} is not valid JSON: ${jsonErrorWhere(error, source)}.`);
  }
  if (typeof event !== "object" || event === null || Array.isArray(event)) {
    const found = event === null ? "null" : Array.isArray(event) ? "an array" : `a ${typeof event}`;
    throw new NimbusError(
      "NIMBUS_CLI_EVENT_SHAPE",
      `${from} holds ${found}; it must hold one event object, such as { "source": "shop.api", "detail-type": "OrderPaid", "detail": { "total": 5 } }.`,
    );
  }
  const record = event as Record<string, unknown>;
  if ("detailType" in record && !("detail-type" in record)) {
    throw new NimbusError(
      "NIMBUS_CLI_EVENT_SHAPE",
      `${from} holds a put entry (it has "detailType"), not an event. Rules match the event a bus makes of an entry: the EventBridge envelope, with "detail-type". Write it as:\n${indent(JSON.stringify(entryAsEvent(record), null, 2), "  ")}`,
    );
  }
  return record;
}

/** JSON.parse's message, with the line and column when the runtime gives only a position. */
function jsonErrorWhere(error: unknown, source: string): string {
  const message = (error as Error).message;
  const position = /at position (\d+)/.exec(message);
  if (!position || /line \d+/.test(message)) return message;
  const before = source.slice(0, Number(position[1]));
  const line = before.split("\n").length;
  const column = before.length - before.lastIndexOf("\n");
  return `${message} (line ${line} column ${column})`;
}

/** The event a bus would make of `entry`, for the put-entry hint. */
function entryAsEvent(entry: Record<string, unknown>): Record<string, unknown> {
  const time = typeof entry.time === "string" && !Number.isNaN(Date.parse(entry.time)) ? entry.time : undefined;
  const event = toEvent({
    source: String(entry.source ?? "shop.api"),
    detailType: String(entry.detailType),
    detail: entry.detail ?? {},
    resources: Array.isArray(entry.resources) ? entry.resources.map(String) : [],
    time,
  });
  return event as unknown as Record<string, unknown>;
}

/** The rule named `<bus>/<rule>`, or a user error listing the rules worth trying. */
function findRule(graph: Graph, name: string): ResourceOf<"rule"> {
  const rules = graph.resources.filter((r): r is ResourceOf<"rule"> => r.kind === "rule");
  const rule = rules.find((r) => r.name === name);
  if (rule) return rule;
  const slash = name.indexOf("/");
  const bus = slash < 0 ? name : name.slice(0, slash);
  const isBus = graph.resources.some((r) => r.kind === "bus" && r.name === bus);
  const onBus = rules.filter((r) => r.spec.bus === bus);
  const list = (some: typeof rules) => some.map((r) => r.name).join(", ");
  let message: string;
  if (slash < 0 && isBus) {
    message =
      onBus.length === 0
        ? `"${name}" is a bus with no rules; add one with ${name}.rule("<name>", { pattern, targets }).`
        : `"${name}" is a bus; name one of its rules as <bus>/<rule>: ${list(onBus)}.`;
  } else if (isBus) {
    message = `Bus "${bus}" of app "${graph.app}" has no rule "${name.slice(slash + 1)}" (its rules: ${list(onBus) || "none"}).`;
  } else {
    message = `App "${graph.app}" has no rule "${name}" (its rules: ${list(rules) || "none"}). Name a rule as <bus>/<rule>.`;
  }
  throw new NimbusError("NIMBUS_CLI_RULE_UNKNOWN", message);
}

/**
 * The pattern's list at an event path such as `detail.total`. Keys may hold dots, and a field
 * may sit inside a `$or` branch; the first branch wins, as `explain` reports the first branch.
 */
function wantedAt(pattern: unknown, path: string): unknown {
  const find = (node: unknown, segments: string[]): unknown => {
    if (segments.length === 0) return node;
    if (typeof node !== "object" || node === null || Array.isArray(node)) return undefined;
    const object = node as Record<string, unknown>;
    for (let take = segments.length; take > 0; take--) {
      const key = segments.slice(0, take).join(".");
      if (key in object) {
        const found = find(object[key], segments.slice(take));
        if (found !== undefined) return found;
      }
    }
    for (const branch of Array.isArray(object.$or) ? object.$or : []) {
      const found = find(branch, segments);
      if (found !== undefined) return found;
    }
    return undefined;
  };
  return path === "" ? undefined : find(pattern, path.split("."));
}

/**
 * What the pattern wants, next to the operator that failed: `numeric [">", 0]` rather than the
 * whole list `[{ "numeric": [">", 0] }]` when the list holds that one expression.
 */
function describeWanted(operator: string, wanted: unknown): string {
  if (!Array.isArray(wanted)) return formatInline(wanted);
  const [only] = wanted;
  if (operator === "equals" && wanted.every((entry) => entry === null || typeof entry !== "object")) {
    return wanted.length === 1 ? formatInline(only) : formatInline(wanted);
  }
  const name = operator.split("/")[0]!;
  if (wanted.length === 1 && typeof only === "object" && only !== null) {
    const keys = Object.keys(only);
    if (keys.length === 1 && keys[0] === name) return formatInline((only as Record<string, unknown>)[name]);
  }
  return formatInline(wanted);
}

/** One-line JSON with spaces: `[">", 0]`, `{ "prefix": "c-" }`. */
function formatInline(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(formatInline).join(", ")}]`;
  if (typeof value === "object" && value !== null) {
    const entries = Object.entries(value);
    if (entries.length === 0) return "{}";
    return `{ ${entries.map(([key, inner]) => `${JSON.stringify(key)}: ${formatInline(inner)}`).join(", ")} }`;
  }
  return JSON.stringify(value);
}

/** A pattern as JSON with one field a line and each field's list on that line. */
function formatPattern(value: unknown, pad: string): string {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return formatInline(value);
  const entries = Object.entries(value);
  if (entries.length === 0) return "{}";
  const inner = `${pad}  `;
  const lines = entries.map(([key, field]) => `${inner}${JSON.stringify(key)}: ${formatPattern(field, inner)}`);
  return `{\n${lines.join(",\n")}\n${pad}}`;
}

const indent = (block: string, pad: string) =>
  block
    .split("\n")
    .map((line) => pad + line)
    .join("\n");
