import type { BucketPresignOptions } from "@nimbus/runtime";
import type { BucketTransport } from "@nimbus/runtime/target";
import type { BucketStore } from "@nimbus/store";

/**
 * The bucket binding's transport over a store opened in the caller's own thread: reads
 * and writes go straight to the bucket's files, with no hop through the emulator.
 * `presign` needs the emulator's signing key, so it is asked of the emulator. `changed`
 * is called, and awaited, after a write that recorded a change for the bucket's
 * notifications, so the emulator puts the events on their buses before the write returns.
 */
export function storeTransport(
  open: () => BucketStore,
  presign: (key: string, options: BucketPresignOptions) => Promise<string>,
  changed?: () => Promise<void>,
): BucketTransport {
  // Opened on first use, so a worker that never touches the bucket never opens its index.
  let opened: BucketStore | undefined;
  const store = () => {
    opened ??= open();
    return opened;
  };
  // The count is compared across the write: another write in flight may add to it too,
  // which costs an extra call but never misses one.
  const notify = async (target: BucketStore, before: number) => {
    if (changed && target.changesRecorded !== before) await changed();
  };
  return {
    async get(key, options) {
      const result = await store().get(key, options);
      return result.status === "ok" ? { record: result.object, body: result.body, range: result.range } : null;
    },
    async put(key, body, options) {
      const target = store();
      const before = target.changesRecorded;
      const record = await target.put(key, body, options);
      await notify(target, before);
      return record;
    },
    async head(key) {
      return store().head(key) ?? null;
    },
    async delete(keys, chain) {
      const target = store();
      const before = target.changesRecorded;
      target.delete(keys, { chain });
      await notify(target, before);
    },
    async list(options) {
      return store().list(options);
    },
    presign,
  };
}
