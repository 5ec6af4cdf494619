/**
 * zod building blocks shared by every kind's props schema: readable durations and sizes
 * normalised to numbers, bounded integers, DNS-safe names. Each failure message says
 * what was expected, what was found and gives an example, so it can be shown as is.
 */
import { z } from "zod";
import { formatDuration, parseDuration } from "../units/duration.ts";
import { formatSize, parseSize } from "../units/size.ts";

const found = (value: unknown): string => (typeof value === "string" ? `"${value}"` : JSON.stringify(value));

interface Range {
  min: string;
  max: string;
  default: string;
}

/** A unit read from text: how to parse and print it, what to call it, and examples. */
interface ReadableUnit {
  noun: string;
  examples: string;
  parse(text: string): number | undefined;
  format(value: number): string;
}

/** A prop given as readable text, stored as a number within [min, max]. */
function readable(unit: ReadableUnit, options: Range) {
  const min = unit.parse(options.min) ?? 0;
  const max = unit.parse(options.max) ?? Number.POSITIVE_INFINITY;
  const range = `between ${unit.format(min)} and ${unit.format(max)}`;
  return z
    .unknown()
    .optional()
    .transform((value, ctx): number => {
      const text = value === undefined ? options.default : value;
      const parsed = typeof text === "string" ? unit.parse(text) : undefined;
      if (parsed === undefined) {
        ctx.addIssue({
          code: "custom",
          message: `expected ${unit.noun} ${range} such as ${unit.examples}; found ${found(value)}`,
        });
        return z.NEVER;
      }
      if (parsed < min || parsed > max) {
        ctx.addIssue({
          code: "custom",
          message: `expected ${unit.noun} ${range}; found ${found(value)}. Use a value in that range, e.g. "${options.default}"`,
        });
        return z.NEVER;
      }
      return parsed;
    });
}

const durationUnit: ReadableUnit = {
  noun: "a duration",
  examples: '"30s" or "5 minutes"',
  parse: parseDuration,
  format: formatDuration,
};
const sizeUnit: ReadableUnit = {
  noun: "a size",
  examples: '"256KiB" or "6 MiB"',
  parse: parseSize,
  format: formatSize,
};

/** A duration prop: a readable string in, milliseconds out, within [min, max]. */
export function duration(options: Range) {
  return readable(durationUnit, options);
}

/** A size prop: a readable string in, bytes out, within [min, max]. */
export function size(options: Range) {
  return readable(sizeUnit, options);
}

/** A whole number within [min, max], with a default. */
export function integer(options: { min: number; max: number; default: number }) {
  return z
    .unknown()
    .optional()
    .transform((value, ctx): number => {
      const n = value === undefined ? options.default : value;
      if (typeof n !== "number" || !Number.isInteger(n) || n < options.min || n > options.max) {
        ctx.addIssue({
          code: "custom",
          message: `expected a whole number from ${options.min} to ${options.max}; found ${found(value)}`,
        });
        return z.NEVER;
      }
      return n;
    });
}

const dnsLabel = /^[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** Why `name` is not a DNS-safe label, or `undefined` when it is one. */
export function dnsNameProblem(name: unknown): string | undefined {
  if (typeof name !== "string") return `expected a name as a string; found ${found(name)}`;
  if (dnsLabel.test(name)) return undefined;
  const suggestion = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+$/, "")
    .slice(0, 63);
  return (
    `expected a DNS-safe name (lower-case letters, digits and "-", starting with a letter, ending with a letter or digit, at most 63 characters); found ${found(name)}` +
    (suggestion && dnsLabel.test(suggestion) ? `. Try "${suggestion}"` : "")
  );
}

/**
 * A strict props object: an unknown key is an error that suggests the closest known prop,
 * so a typo such as `vissibilityTimeout` fails when the graph is built.
 */
export function props<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  const keys = Object.keys(shape);
  return z.strictObject(shape, {
    error: (issue) => {
      if (issue.code !== "unrecognized_keys") return undefined;
      const unknown = issue.keys.map((key) => {
        const close = closest(key, keys);
        return `unknown prop "${key}"${close ? `; did you mean "${close}"?` : ""}`;
      });
      return `${unknown.join("; ")}. Known props: ${keys.join(", ")}`;
    },
  });
}

function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const candidate of candidates) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j]!;
      row[j] = Math.min(above + 1, row[j - 1]! + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length]!;
}

/** A nested props object that may be left out: its fields' defaults still apply. */
export function section<Shape extends z.core.$ZodLooseShape>(shape: Shape) {
  return z.preprocess((value) => (value === undefined ? {} : value), props(shape));
}
