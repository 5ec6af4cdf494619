import { MAX_WILDCARDS } from "./limits.ts";

/** A wildcard split at its unescaped `*`: n wildcards leave n + 1 literal segments. */
export type ParsedWildcard = { ok: true; segments: string[] } | { ok: false; message: string };

/**
 * Reads a wildcard value: `*` matches any run of characters (also none), `\*` is a literal asterisk
 * and `\\` a literal backslash. Like EventBridge, rejects `**`, any other escape, and too many wildcards.
 */
export function parseWildcard(text: string): ParsedWildcard {
  const segments: string[] = [];
  let current = "";
  let previousWasStar = false;
  for (let i = 0; i < text.length; i++) {
    const char = text.charAt(i);
    if (char === "\\") {
      const next = text.charAt(i + 1);
      if (next !== "*" && next !== "\\") {
        const found = next === "" ? "a trailing backslash" : `"\\${next}"`;
        return { ok: false, message: `${found} at position ${i}; only \\* and \\\\ are escapes in a wildcard` };
      }
      current += next;
      i++;
      previousWasStar = false;
    } else if (char === "*") {
      if (previousWasStar) {
        return { ok: false, message: `consecutive wildcards "**" at position ${i - 1}; use a single *` };
      }
      segments.push(current);
      current = "";
      previousWasStar = true;
    } else {
      current += char;
      previousWasStar = false;
    }
  }
  segments.push(current);
  const stars = segments.length - 1;
  if (stars > MAX_WILDCARDS) {
    return {
      ok: false,
      message: `${stars} wildcards make the pattern too complex; use at most ${MAX_WILDCARDS}, or a prefix or suffix`,
    };
  }
  return { ok: true, segments };
}

/**
 * A matcher for parsed segments. With `*` as the only wildcard, taking the leftmost place for each
 * middle segment never loses a match, so one pass without backtracking suffices.
 */
export function wildcardMatcher(segments: readonly string[]): (value: string) => boolean {
  if (segments.length === 1) {
    const exact = segments[0] ?? "";
    return (value) => value === exact;
  }
  const first = segments[0] ?? "";
  const last = segments[segments.length - 1] ?? "";
  const middle = segments.slice(1, -1).filter((segment) => segment !== "");
  const fixedLength = first.length + last.length;
  return (value) => {
    if (value.length < fixedLength || !value.startsWith(first) || !value.endsWith(last)) return false;
    let from = first.length;
    const end = value.length - last.length;
    for (const segment of middle) {
      const at = value.indexOf(segment, from);
      if (at < 0 || at + segment.length > end) return false;
      from = at + segment.length;
    }
    return true;
  };
}
