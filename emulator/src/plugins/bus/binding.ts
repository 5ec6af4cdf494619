import type { BusClient } from "@nimbus/runtime";

/**
 * The bus binding: `put` hands the entries to the emulator, which checks them, matches
 * the bus's rules and stores every delivery before answering with the events' ids.
 */
export function busClient(put: (entries: unknown) => Promise<string[]>): BusClient {
  return {
    async put(entries) {
      return { ids: await put(entries) };
    },
  };
}
