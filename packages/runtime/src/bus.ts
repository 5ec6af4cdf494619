import type { Chain, EventMap, NimbusEvent } from "@nimbus/core";

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

/** How a target carries a bus client's entries: the emulator's bus service, or JetStream. */
export interface BusTransport {
  /**
   * Checks and puts the entries, all or none; resolves with the events' ids, in order.
   * `chain`: that of the invocation putting them, stored with their deliveries (absent outside one).
   */
  put(entries: readonly BusEntry[], chain?: Chain): Promise<string[]>;
}

/**
 * The bus binding over a target's transport. The entries are checked where the bus's
 * rules and schemas are known, on the target's side, so the client passes them on as
 * they are: a wrong entry fails there, naming the bus, the entry and the field.
 */
export function busClient(
  transport: BusTransport,
  /** The chain of the running invocation (`ChainStorage.getStore`), passed on with what is put. */
  chain: () => Chain | undefined = () => undefined,
): BusClient {
  return {
    async put(entries) {
      return { ids: await transport.put(entries, chain()) };
    },
  };
}
