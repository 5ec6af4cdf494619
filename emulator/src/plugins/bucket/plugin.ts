import type { BucketSpec, ResourceOf } from "@nimbus/core";
import { bucketDir } from "./paths.ts";
import { BucketStore } from "./store.ts";

export interface RunningBucket {
  name: string;
  spec: BucketSpec;
  store: BucketStore;
}

export interface BucketPluginContext {
  stateDir: string;
  now: () => number;
  /** True when the emulator starts: no function runs yet, so leftovers can be swept safely. */
  starting: boolean;
}

/** Buckets in the emulator: one durable store per bucket under `<state>/buckets/<name>/`. */
export const bucketPlugin = {
  /**
   * Opens the bucket's store, creating it on first use; at start-up, also sweeps away
   * files an earlier process left half-written. Functions open the same store in their
   * own threads.
   */
  start(resource: ResourceOf<"bucket">, ctx: BucketPluginContext): RunningBucket {
    const store = new BucketStore({
      name: resource.name,
      dir: bucketDir(ctx.stateDir, resource.name),
      sweep: ctx.starting,
      now: ctx.now,
    });
    return { name: resource.name, spec: resource.spec, store };
  },

  /** Settings of a bucket (its notifications) apply without reopening it. */
  update(running: RunningBucket, spec: BucketSpec): void {
    running.spec = spec;
  },

  /** Closes the store; the objects stay on disk for the next start. */
  stop(running: RunningBucket): void {
    running.store.close();
  },
};
