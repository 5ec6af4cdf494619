/** Slots per table: an id is `sequence * slotSpace + slot`, exact in a double for 2^33 ids. */
const slotSpace = 2 ** 20;

/**
 * The entries of a table on a request path (invocations in flight, binding calls
 * awaiting their reply), each at the slot its id names.
 *
 * Not a `Map`. A `Map` that keeps taking new keys and dropping old ones rebuilds its
 * table every few dozen insertions, and V8 leaves each table it replaced pointing at its
 * successor, still holding the entries it had. Once the `Map` has sat still long enough
 * for its table to be promoted to the old generation (a pause between bursts of requests
 * does it), every rebuild allocates the next table there too, and each replaced table,
 * dead but old, keeps the young entries it held alive through every minor collection
 * until the next full one: the invocations in flight at each rebuild, with the request
 * and response each holds, all end up promoted. Measured with the emulator's hello world
 * under load after such a pause: a third of what its server thread allocated outlived
 * the young generation, a full collection ran every 120 ms, and it served 27k requests
 * per second where it serves 38k with this table (docs/emulator.md). Slots in a plain
 * array are emptied when their entry goes and taken again by the next: the array never
 * churns, and holds nothing that is gone.
 */
class Slots<V> {
  protected readonly entries: (V | undefined)[] = [];
  protected readonly ids: number[] = [];
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(id: number): V | undefined {
    const slot = id % slotSpace;
    return this.ids[slot] === id ? this.entries[slot] : undefined;
  }

  has(id: number): boolean {
    return this.ids[id % slotSpace] === id;
  }

  /** Empties the entry's slot; its slot number, or -1 when `id` is not in the table. */
  protected remove(id: number): number {
    const slot = id % slotSpace;
    if (this.ids[slot] !== id) return -1;
    this.entries[slot] = undefined;
    this.ids[slot] = -1;
    this.#size--;
    return slot;
  }

  protected put(slot: number, id: number, value: V): void {
    if (this.ids[slot] !== id) this.#size++;
    // A slot past the end is the next one (an `InFlight` fills its slots in order, and a
    // mirror's come from one), so the arrays stay dense.
    this.entries[slot] = value;
    this.ids[slot] = id;
  }

  *values(): IterableIterator<V> {
    for (const value of this.entries) if (value !== undefined) yield value;
  }
}

/** A table that hands out the ids of what it keeps: invocations, binding calls. */
export class InFlight<V> extends Slots<V> {
  readonly #free: number[] = [];
  #sequence = 0;

  /** Keeps `value`; its id, unique in this table for as long as the process runs. */
  add(value: V): number {
    const slot = this.#free.pop() ?? this.entries.length;
    if (slot >= slotSpace) throw new RangeError(`more than ${slotSpace} entries in flight`);
    const id = ++this.#sequence * slotSpace + slot;
    this.put(slot, id, value);
    return id;
  }

  delete(id: number): boolean {
    const slot = this.remove(id);
    if (slot === -1) return false;
    this.#free.push(slot);
    return true;
  }
}

/**
 * A table keyed by the ids another thread's `InFlight` handed out (a worker's record of
 * the invocations the emulator sent it): those in flight there have distinct slots, so
 * they do here.
 */
export class InFlightMirror<V> extends Slots<V> {
  set(id: number, value: V): void {
    this.put(id % slotSpace, id, value);
  }

  delete(id: number): boolean {
    return this.remove(id) !== -1;
  }
}
