const encoder = new TextEncoder();

/**
 * FNV-1a, 32 bits, of the UTF-8 of `text`, as 8 lower-case hex digits: a small pure
 * hash for deterministic name suffixes (core runs where node:crypto does not). Not for
 * anything an attacker chooses against: it only keeps two different names apart.
 */
export function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, "0");
}
