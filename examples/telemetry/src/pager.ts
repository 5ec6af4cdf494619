import type { Reading } from "./readings";

/**
 * The on-call pager, simulated: deterministic, so a test and a load run fail the same
 * alerts every time. Devices named `offline-…` have no on-call route, so paging them
 * always fails; for one reading in four (by a hash of its device and time) the first
 * try times out, as a real pager's API sometimes does.
 */
export async function page(reading: Reading, attempt: number): Promise<void> {
  if (reading.deviceId.startsWith("offline-")) {
    throw new Error(`pager: no on-call route for device ${reading.deviceId} (HTTP 503)`);
  }
  if (attempt === 1 && hash(`${reading.deviceId}@${reading.at}`) % 4 === 0) {
    throw new Error(`pager: timed out paging for device ${reading.deviceId}, try again`);
  }
}

/** FNV-1a, 32 bits. */
export function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}
