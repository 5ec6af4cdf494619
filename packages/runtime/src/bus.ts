import type { EventMap, NimbusEvent } from "@nimbus/core";

/** One entry of `put`, typed by the bus's event map: `detailType` picks the shape of `detail`. */
export type BusEntry<Events extends EventMap = Record<string, unknown>> = {
  [K in keyof Events & string]: {
    source: string;
    detailType: K;
    detail: Events[K];
    resources?: string[];
    time?: Date | string;
  };
}[keyof Events & string];

/** An event as a handler receives it, typed by the bus's event map. */
export type BusEvent<Events extends EventMap = Record<string, unknown>> = {
  [K in keyof Events & string]: NimbusEvent<Events[K]> & { "detail-type": K };
}[keyof Events & string];

/** The binding a function gets in `env` for a linked bus. */
export interface BusClient<Events extends EventMap = Record<string, unknown>> {
  /** Puts the entries on the bus as EventBridge-shaped events; resolves with their ids. */
  put(entries: readonly BusEntry<Events>[]): Promise<{ ids: string[] }>;
}
