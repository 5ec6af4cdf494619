/**
 * Readable sizes: `"256KiB"`, `"6 MiB"`, `"1MB"` (decimal), `"512 bytes"`. Specs store bytes.
 */
const unitBytes = {
  b: 1,
  byte: 1,
  bytes: 1,
  kb: 1_000,
  mb: 1_000_000,
  gb: 1_000_000_000,
  kib: 1_024,
  mib: 1_048_576,
  gib: 1_073_741_824,
} as const;

type SizeUnit = "B" | "bytes" | "KB" | "MB" | "GB" | "KiB" | "MiB" | "GiB";
/** A size string such as `"256KiB"` or `"6 MiB"`. */
export type Size = `${number}${SizeUnit}` | `${number} ${SizeUnit}`;

const pattern = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*$/i;

/** Bytes for a size string, or `undefined` when it does not parse. */
export function parseSize(text: string): number | undefined {
  const match = pattern.exec(text);
  if (!match) return undefined;
  const factor = unitBytes[match[2]!.toLowerCase() as keyof typeof unitBytes];
  if (factor === undefined) return undefined;
  return Math.round(Number(match[1]) * factor);
}

/** `6291456` → `"6MiB"`: for messages and tables. */
export function formatSize(bytes: number): string {
  for (const [unit, size] of [
    ["GiB", 1_073_741_824],
    ["MiB", 1_048_576],
    ["KiB", 1_024],
  ] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
