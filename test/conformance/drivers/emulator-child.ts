// The emulator driver's child process: one emulator, driven over IPC by the test process,
// so a kill is a real SIGKILL and a restart a real new process on the same state folder.
// Requests are `{ id, op, args }`; answers `{ id, value }` or `{ id, error }`.
import { createEmulator } from "@nimbus/emulator";
import type { BucketGetOptions, BucketListOptions, BucketPresignOptions, BucketPutOptions } from "@nimbus/runtime";

/** What the parent passes as the first argument, as JSON. */
export interface ChildOptions {
  root: string;
  state: string;
  manualClock: boolean;
}

/** What the child sends once its emulator runs (or failed to start). */
export type ChildReady =
  | { ready: { url: string; s3: { endpoint: string; region: string; accessKeyId: string; secretAccessKey: string } } }
  | { failed: ChildError };

export interface ChildRequest {
  id: number;
  op: string;
  args: unknown[];
}

export interface ChildError {
  code?: string;
  message: string;
  name: string;
}

export type ChildAnswer = { id: number; value: unknown } | { id: number; error: ChildError };

const send = (message: unknown) => process.send!(message);

const asError = (error: unknown): ChildError => {
  const { code, message, name } = (error ?? {}) as { code?: unknown; message?: unknown; name?: unknown };
  return {
    ...(typeof code === "string" ? { code } : {}),
    message: typeof message === "string" ? message : String(error),
    name: typeof name === "string" ? name : "Error",
  };
};

const options = JSON.parse(process.argv[2]!) as ChildOptions;

let emu: Awaited<ReturnType<typeof createEmulator>>;
try {
  emu = await createEmulator({
    root: options.root,
    state: options.state,
    watch: false,
    clock: options.manualClock ? "manual" : "real",
    port: 0,
  });
} catch (error) {
  send({ failed: asError(error) } satisfies ChildReady);
  process.exit(1);
}

// Each op takes plain arguments and returns a structured-cloneable value (bytes as Uint8Array, times in ms).
const ops: Record<string, (...args: any[]) => unknown> = {
  "queue.send": (name: string, body: unknown, sendOptions?: object) => emu.queue(name).send(body, sendOptions),
  "queue.sendBatch": (name: string, messages: { body: unknown }[]) => emu.queue(name).sendBatch(messages),
  "queue.stats": (name: string) => emu.queue(name).stats(),
  "queue.redrive": (name: string) => emu.queue(name).redrive(),
  "queue.deadLettered": (name: string) =>
    emu
      .queue(name)
      .deadLettered()
      .map((dead) => ({ ...dead, firstSeen: dead.firstSeen.getTime() })),
  "bus.put": (name: string, entries: never) => emu.bus(name).put(entries),
  "schedule.trigger": (name: string) => emu.schedule(name).trigger(),
  "bucket.get": async (name: string, key: string, getOptions?: BucketGetOptions) => {
    const object = await emu.bucket(name).get(key, getOptions);
    if (!object) return null;
    const { body: _stream, text: _t, json: _j, arrayBuffer: _a, bytes, ...info } = object;
    return { ...info, bytes: await bytes() };
  },
  "bucket.put": (name: string, key: string, body: string | Uint8Array, putOptions?: BucketPutOptions) =>
    emu.bucket(name).put(key, body, putOptions),
  "bucket.head": (name: string, key: string) => emu.bucket(name).head(key),
  "bucket.delete": (name: string, keys: string | string[]) => emu.bucket(name).delete(keys),
  "bucket.list": (name: string, listOptions?: BucketListOptions) => emu.bucket(name).list(listOptions),
  "bucket.presign": (name: string, key: string, presignOptions: BucketPresignOptions) =>
    emu.bucket(name).presign(key, presignOptions),
  idle: () => emu.idle(),
  advance: (by: string | number) => emu.clock.advance(by as never),
  now: () => emu.clock.now(),
  reload: () => emu.reload(),
  reset: () => emu.reset(),
  // The parent disconnects once this is answered; the child then exits.
  close: () => emu.close(),
};

process.on("message", async ({ id, op, args }: ChildRequest) => {
  try {
    const run = ops[op];
    if (!run) throw new Error(`the emulator driver has no op "${op}"`);
    send({ id, value: await run(...args) } satisfies ChildAnswer);
  } catch (error) {
    send({ id, error: asError(error) } satisfies ChildAnswer);
  }
});

// A parent that dies without closing must not leave the emulator running.
process.on("disconnect", () => process.exit(0));

send({
  ready: {
    url: emu.url,
    s3: {
      endpoint: emu.s3.endpoint,
      region: emu.s3.region,
      accessKeyId: emu.s3.accessKeyId,
      secretAccessKey: emu.s3.secretAccessKey,
    },
  },
} satisfies ChildReady);
