/**
 * A deliberately naive second implementation of the pattern semantics, for property tests. It shares
 * no code with the matcher and works the other way round: the event is flattened into leaf
 * occurrences, each tagged with the array elements it sits in, and a search picks one occurrence per
 * field such that no two come from different elements of the same array. `exists: false` then holds
 * when no occurrence of the field is compatible with the elements picked. Field names are dot-joined
 * paths, as in AWS's engine, so dotted keys and nested objects name the same fields.
 */
import { BlockList, isIP } from "node:net";

type Scalar = string | number | boolean | null;

interface Occurrence {
  value: Scalar;
  /** Array id → element index, for every array on the way to this leaf. */
  within: Map<number, number>;
}

type Occurrences = Map<string, Occurrence[]>;

/**
 * A field's name, as AWS's engine writes it: nested keys joined with `.`. So `{ "a.b": 1 }` and
 * `{ "a": { "b": 1 } }` hold the same field, in events and in patterns alike.
 */
const keyOf = (segments: readonly string[]): string => segments.join(".");

function flatten(event: unknown): Occurrences {
  const found: Occurrences = new Map();
  let nextArray = 0;
  const visit = (value: unknown, segments: string[], within: Map<number, number>): void => {
    if (Array.isArray(value)) {
      const id = nextArray++;
      value.forEach((element, index) => {
        visit(element, segments, new Map(within).set(id, index));
      });
    } else if (value !== null && typeof value === "object") {
      for (const key of Object.keys(value)) visit((value as Record<string, unknown>)[key], [...segments, key], within);
    } else if (value === null || ["string", "number", "boolean"].includes(typeof value)) {
      const list = found.get(keyOf(segments)) ?? [];
      list.push({ value: value as Scalar, within });
      found.set(keyOf(segments), list);
    }
  };
  visit(event, [], new Map());
  return found;
}

/** Each `$or` alternative as a map from field path to its list; a later mention of a path replaces an earlier one. */
function alternatives(pattern: Record<string, unknown>, segments: string[]): Map<string, unknown[]>[] {
  let result: Map<string, unknown[]>[] = [new Map()];
  for (const key of Object.keys(pattern)) {
    const value = pattern[key];
    let options: Map<string, unknown[]>[];
    if (key === "$or") {
      options = (value as Record<string, unknown>[]).flatMap((option) => alternatives(option, segments));
    } else if (Array.isArray(value)) {
      options = [new Map([[keyOf([...segments, key]), value]])];
    } else {
      options = alternatives(value as Record<string, unknown>, [...segments, key]);
    }
    result = result.flatMap((soFar) =>
      options.map((option) => {
        const merged = new Map(soFar);
        for (const [path, list] of option) {
          merged.delete(path);
          merged.set(path, list);
        }
        return merged;
      }),
    );
  }
  return result;
}

// Numbers as EventBridge compares them: six decimals, within plus or minus five billion.
const LIMIT = 5_000_000_000;
const comparable = (n: number) => n >= -LIMIT && n <= LIMIT;
const scaled = (n: number) => Math.trunc(1_000_000 * (LIMIT + n));
const sameNumber = (a: number, b: number) =>
  comparable(a) && comparable(b) ? scaled(a) === scaled(b) : !comparable(a) && !comparable(b) && a === b;

function wildcardRegExp(text: string): RegExp {
  let source = "";
  for (let i = 0; i < text.length; i++) {
    const char = text[i] as string;
    if (char === "\\") {
      source += `\\${text[i + 1]}`;
      i++;
    } else if (char === "*") {
      source += "[\\s\\S]*";
    } else {
      source += /[a-zA-Z0-9]/.test(char) ? char : `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;
    }
  }
  return new RegExp(`^${source}$`);
}

function inCidr(cidr: string, value: Scalar): boolean {
  if (typeof value !== "string") return false;
  const [network = "", bits = ""] = cidr.split("/");
  const family = isIP(network);
  if (family === 0 || isIP(value) !== family) return false;
  const type = family === 4 ? "ipv4" : "ipv6";
  const list = new BlockList();
  list.addSubnet(network, Number(bits), type);
  return list.check(value, type);
}

function numericHolds(terms: unknown[], value: Scalar): boolean {
  if (typeof value !== "number" || !comparable(value)) return false;
  for (let i = 0; i < terms.length; i += 2) {
    const v = scaled(value);
    const bound = scaled(terms[i + 1] as number);
    const ok = { "=": v === bound, "<": v < bound, "<=": v <= bound, ">": v > bound, ">=": v >= bound }[
      terms[i] as "=" | "<" | "<=" | ">" | ">="
    ];
    if (!ok) return false;
  }
  return true;
}

function anythingBut(operand: unknown, value: Scalar): boolean {
  if (typeof operand === "string") return value !== operand;
  if (typeof operand === "number") return !(typeof value === "number" && sameNumber(value, operand));
  if (Array.isArray(operand)) return operand.every((excluded) => anythingBut(excluded, value));
  if (typeof value !== "string") return true;
  const [kind, raw] = Object.entries(operand as Record<string, unknown>)[0] as [string, string | string[]];
  const list = Array.isArray(raw) ? raw : [raw];
  return !list.some((text) => {
    if (kind === "prefix") return value.slice(0, text.length) === text;
    if (kind === "suffix") return text.length <= value.length && value.slice(value.length - text.length) === text;
    if (kind === "equals-ignore-case") return value.toLowerCase() === text.toLowerCase();
    return wildcardRegExp(text).test(value);
  });
}

/** Whether one entry of a field's list (not `exists: false`) accepts one leaf value. */
function accepts(entry: unknown, value: Scalar): boolean {
  if (entry === null || typeof entry !== "object") {
    if (typeof entry === "number") return typeof value === "number" && sameNumber(entry, value);
    return entry === value;
  }
  const [operator, operand] = Object.entries(entry)[0] as [string, unknown];
  const text = typeof value === "string" ? value : undefined;
  switch (operator) {
    case "exists":
      return true;
    case "prefix":
      if (text === undefined) return false;
      if (typeof operand === "string") return text.slice(0, operand.length) === operand;
      return text.toLowerCase().indexOf((operand as Record<string, string>)["equals-ignore-case"]!.toLowerCase()) === 0;
    case "suffix": {
      if (text === undefined) return false;
      const wanted =
        typeof operand === "string"
          ? operand
          : (operand as Record<string, string>)["equals-ignore-case"]!.toLowerCase();
      const subject = typeof operand === "string" ? text : text.toLowerCase();
      return subject.length >= wanted.length && subject.slice(subject.length - wanted.length) === wanted;
    }
    case "equals-ignore-case":
      return text !== undefined && text.toLowerCase() === (operand as string).toLowerCase();
    case "wildcard":
      return text !== undefined && wildcardRegExp(operand as string).test(text);
    case "cidr":
      return inCidr(operand as string, value);
    case "numeric":
      return numericHolds(operand as unknown[], value);
    case "anything-but":
      return anythingBut(operand, value);
    default:
      throw new Error(`reference: unknown operator ${operator}`);
  }
}

const isAbsentEntry = (entry: unknown): boolean =>
  typeof entry === "object" && entry !== null && (entry as Record<string, unknown>).exists === false;

function compatible(a: Map<number, number>, b: Map<number, number>): boolean {
  for (const [id, index] of b) {
    const other = a.get(id);
    if (other !== undefined && other !== index) return false;
  }
  return true;
}

function matchesAlternative(fields: [string, unknown[]][], occurrences: Occurrences): boolean {
  const absent: string[] = [];
  const search = (i: number, within: Map<number, number>): boolean => {
    if (i === fields.length) {
      return absent.every((path) => !(occurrences.get(path) ?? []).some((o) => compatible(within, o.within)));
    }
    const [path, list] = fields[i] as [string, unknown[]];
    for (const entry of list) {
      if (isAbsentEntry(entry)) {
        absent.push(path);
        const found = search(i + 1, within);
        absent.pop();
        if (found) return true;
        continue;
      }
      for (const occurrence of occurrences.get(path) ?? []) {
        if (!compatible(within, occurrence.within) || !accepts(entry, occurrence.value)) continue;
        if (search(i + 1, new Map([...within, ...occurrence.within]))) return true;
      }
    }
    return false;
  };
  return search(0, new Map());
}

/** The reference answer: does `event` match the (valid) `pattern`? */
export function referenceMatches(pattern: Record<string, unknown>, event: unknown): boolean {
  const occurrences = flatten(event);
  return alternatives(pattern, []).some((alternative) => matchesAlternative([...alternative], occurrences));
}
