import type { BuildFailure } from "esbuild";

/** esbuild's errors, one `file:line:column: text` line each, for messages that say where to look. */
export function buildErrorLines(error: unknown): string[] {
  const errors = (error as Partial<BuildFailure>).errors ?? [];
  if (errors.length === 0) return [String(error)];
  return errors.map((e) =>
    e.location ? `${e.location.file}:${e.location.line}:${e.location.column + 1}: ${e.text}` : e.text,
  );
}
