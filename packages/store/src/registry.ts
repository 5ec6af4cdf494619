import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { BucketSpec, ResourceOf } from "@nimbus/core";
import { bucketDir } from "./paths.ts";
import { BucketStore } from "./store.ts";

/** A bucket the emulator serves: declared by the app, or a scratch bucket made over S3. */
export interface BucketEntry {
  name: string;
  store: BucketStore;
  /** Declared in the app file; functions can link only these. */
  declared: boolean;
  /** The declared bucket's settings (its notifications); undefined for a scratch bucket. */
  spec?: BucketSpec;
}

/**
 * Every bucket of the emulator, by name. Declared buckets come from the graph and
 * always exist; S3 clients may create and delete scratch buckets beside them (test
 * suites and tools expect to). All live in `<state>/buckets/<name>/`, so a bucket
 * removed from the app file keeps its objects and shows as a scratch bucket.
 */
export class BucketRegistry {
  readonly #stateDir: string;
  readonly #now: () => number;
  readonly #onChange: ((entry: BucketEntry) => void) | undefined;
  readonly #durable: boolean;
  readonly #entries = new Map<string, BucketEntry>();

  /**
   * `onChange` is called after a write through one of the registry's stores (the S3
   * endpoint, presigned URLs, `emu.bucket`) recorded a change for the bucket's
   * notifications, once it is committed: the time to drain the bucket's outbox.
   * `durable` opens every store durable (see `BucketStore`): the store service's setting.
   */
  constructor(options: {
    stateDir: string;
    now: () => number;
    onChange?: (entry: BucketEntry) => void;
    durable?: boolean;
  }) {
    this.#stateDir = options.stateDir;
    this.#now = options.now;
    this.#onChange = options.onChange;
    this.#durable = options.durable ?? false;
  }

  /**
   * Opens the graph's buckets and the scratch buckets found on disk, closing none that
   * stay. At start-up (`starting`), each store is swept of files a killed process left.
   * A bucket records its changes for notifying while it is declared with notifications.
   * Returns a line per change, for the log.
   */
  apply(declared: readonly Pick<ResourceOf<"bucket">, "name" | "spec">[], starting: boolean): string[] {
    const changes: string[] = [];
    const wanted = new Map(declared.map((resource) => [resource.name, resource]));
    for (const entry of this.#entries.values()) {
      const resource = wanted.get(entry.name);
      if (resource) {
        if (!entry.declared) changes.push(`bucket ${entry.name} is now declared`);
        entry.declared = true;
        entry.spec = resource.spec;
      } else if (entry.declared) {
        entry.declared = false;
        entry.spec = undefined;
        changes.push(`bucket ${entry.name} is no longer declared; its objects stay, as a scratch bucket`);
      }
      entry.store.setNotifying(notifies(entry));
    }
    for (const resource of declared) {
      if (this.#entries.has(resource.name)) continue;
      this.#add({
        name: resource.name,
        store: this.#open(resource.name, starting),
        declared: true,
        spec: resource.spec,
      });
      changes.push(`started bucket ${resource.name}`);
    }
    if (starting) {
      for (const name of this.#onDisk()) {
        // Its folder may hold the flag from a run in which it was declared with notifications.
        if (!this.#entries.has(name)) this.#add({ name, store: this.#open(name, true), declared: false });
      }
    }
    return changes;
  }

  get(name: string): BucketEntry | undefined {
    return this.#entries.get(name);
  }

  /** Every bucket, by name. */
  all(): BucketEntry[] {
    return [...this.#entries.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  declaredNames(): string[] {
    return this.all()
      .filter((entry) => entry.declared)
      .map((entry) => entry.name);
  }

  /** Creates a scratch bucket; the caller has checked the name and that it is free. */
  create(name: string): BucketEntry {
    return this.#add({ name, store: this.#open(name, false), declared: false });
  }

  /** Removes a scratch bucket and its folder; the caller has checked it is empty and not declared. */
  remove(name: string): void {
    const entry = this.#entries.get(name);
    if (!entry) return;
    entry.store.close();
    this.#entries.delete(name);
    rmSync(bucketDir(this.#stateDir, name), { recursive: true, force: true });
  }

  /** Empties the declared buckets in place (functions keep their handles) and removes the others. */
  reset(): void {
    for (const entry of [...this.#entries.values()]) {
      if (entry.declared) entry.store.clear();
      else this.remove(entry.name);
    }
  }

  close(): void {
    for (const entry of this.#entries.values()) entry.store.close();
    this.#entries.clear();
  }

  #add(entry: BucketEntry): BucketEntry {
    entry.store.setNotifying(notifies(entry));
    this.#entries.set(entry.name, entry);
    return entry;
  }

  #open(name: string, sweep: boolean): BucketStore {
    const onChange = this.#onChange;
    const store: BucketStore = new BucketStore({
      name,
      dir: bucketDir(this.#stateDir, name),
      sweep,
      now: this.#now,
      durable: this.#durable,
      onChange:
        onChange &&
        (() => {
          const entry = this.#entries.get(name);
          if (entry?.store === store) onChange(entry);
        }),
    });
    return store;
  }

  #onDisk(): string[] {
    try {
      return readdirSync(join(this.#stateDir, "buckets"), { withFileTypes: true })
        .filter((entry) => entry.isDirectory())
        .map((entry) => entry.name);
    } catch {
      return [];
    }
  }
}

function notifies(entry: BucketEntry): boolean {
  return entry.declared && (entry.spec?.notifications.length ?? 0) > 0;
}
