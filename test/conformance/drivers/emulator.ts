import { type ChildProcess, fork } from "node:child_process";
import { join } from "node:path";
import { type ErrorCode, NimbusError } from "@nimbus/core";
import type {
  BucketClient,
  BucketGetOptions,
  BucketObject,
  BucketObjectInfo,
  BucketPutBody,
  BusClient,
} from "@nimbus/runtime";
import { copyApp } from "../../support/app-copy.ts";
import type { DeadLetter, Deployment, DeployOptions, QueueCounts, QueueHandle, TargetDriver } from "../driver.ts";
import type { ChildAnswer, ChildError, ChildOptions, ChildReady, ChildRequest } from "./emulator-child.ts";

const childEntry = join(import.meta.dirname, "emulator-child.ts");

type Ready = Extract<ChildReady, { ready: unknown }>["ready"];

/** A NimbusError when the child's error had a code (so `NimbusError.is(e) && e.code` works), else a plain Error. */
function rebuild({ code, message, name }: ChildError): Error {
  const error = code ? new NimbusError(code as ErrorCode, message) : new Error(message);
  if (!code) error.name = name;
  return error;
}

/** One forked emulator: requests out, answers back, and a way to end it. */
class Child {
  readonly #process: ChildProcess;
  readonly #pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  readonly #exited: Promise<void>;
  #next = 0;
  ready!: Ready;

  private constructor(options: ChildOptions) {
    this.#process = fork(childEntry, [JSON.stringify(options)], {
      execArgv: ["--conditions=nimbus-source", "--disable-warning=ExperimentalWarning"],
      serialization: "advanced",
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.#exited = new Promise((resolve) => this.#process.once("exit", () => resolve()));
    this.#process.on("message", (message: ChildAnswer | ChildReady) => {
      if (!("id" in message)) return;
      const waiting = this.#pending.get(message.id);
      this.#pending.delete(message.id);
      if ("error" in message) waiting?.reject(rebuild(message.error));
      else waiting?.resolve(message.value);
    });
    this.#process.once("exit", (code, signal) => {
      for (const { reject } of this.#pending.values()) {
        reject(new Error(`the emulator process exited (${signal ?? `code ${code}`}) before it answered`));
      }
      this.#pending.clear();
    });
  }

  static async start(options: ChildOptions): Promise<Child> {
    const child = new Child(options);
    child.ready = await new Promise<Ready>((resolve, reject) => {
      child.#process.on("message", (message: ChildAnswer | ChildReady) => {
        if ("ready" in message) resolve(message.ready);
        if ("failed" in message) reject(rebuild(message.failed));
      });
      child.#process.once("exit", (code, signal) =>
        reject(new Error(`the emulator process exited (${signal ?? `code ${code}`}) before it was ready`)),
      );
    });
    return child;
  }

  call<T>(op: string, ...args: unknown[]): Promise<T> {
    const id = ++this.#next;
    return new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      this.#process.send({ id, op, args } satisfies ChildRequest);
    });
  }

  /** Closes the emulator cleanly and waits for the process to end. */
  async close(): Promise<void> {
    if (this.#process.exitCode === null && this.#process.signalCode === null) {
      await this.call("close");
      this.#process.disconnect();
    }
    await this.#exited;
  }

  /** SIGKILL: no clean-up of any kind runs. */
  async kill(): Promise<void> {
    this.#process.kill("SIGKILL");
    await this.#exited;
  }
}

/** Bytes for the IPC channel: a Blob or a stream is read whole, a string passes as it is. */
async function toSendable(body: BucketPutBody): Promise<string | Uint8Array> {
  if (typeof body === "string") return body;
  if (body instanceof ArrayBuffer) return new Uint8Array(body);
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof Blob) return new Uint8Array(await body.arrayBuffer());
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** A BucketObject again, around the bytes the child read. */
function toObject(stored: BucketObjectInfo & { bytes: Uint8Array } & Pick<BucketObject, "range">): BucketObject {
  const { bytes, ...info } = stored;
  const text = () => new TextDecoder().decode(bytes);
  return {
    ...info,
    body: new Blob([bytes as Uint8Array<ArrayBuffer>]).stream(),
    text: async () => text(),
    json: async <T>() => JSON.parse(text()) as T,
    arrayBuffer: async () => bytes.slice().buffer as ArrayBuffer,
    bytes: async () => bytes.slice(),
  };
}

class EmulatorDeployment implements Deployment {
  readonly root: string;
  readonly #options: ChildOptions;
  readonly #remove: () => Promise<void>;
  #child: Child;
  #closed = false;

  constructor(root: string, options: ChildOptions, child: Child, remove: () => Promise<void>) {
    this.root = root;
    this.#options = options;
    this.#child = child;
    this.#remove = remove;
  }

  #call<T>(op: string, ...args: unknown[]): Promise<T> {
    return this.#child.call<T>(op, ...args);
  }

  fetch(path: string, init?: RequestInit): Promise<Response> {
    return fetch(new URL(path, this.#child.ready.url), init);
  }

  bucket(name: string): BucketClient {
    return {
      get: async (key, options?: BucketGetOptions) => {
        const stored = await this.#call<Parameters<typeof toObject>[0] | null>("bucket.get", name, key, options);
        return stored && toObject(stored);
      },
      put: async (key, body, options) => this.#call("bucket.put", name, key, await toSendable(body), options),
      head: (key) => this.#call("bucket.head", name, key),
      delete: (keys) => this.#call("bucket.delete", name, keys),
      list: (options) => this.#call("bucket.list", name, options),
      presign: (key, options) => this.#call("bucket.presign", name, key, options),
    };
  }

  queue(name: string): QueueHandle {
    return {
      send: (body, options) => this.#call("queue.send", name, body, options),
      sendBatch: (messages) => this.#call("queue.sendBatch", name, messages),
      stats: () => this.#call<QueueCounts>("queue.stats", name),
      deadLettered: () => this.#call<DeadLetter[]>("queue.deadLettered", name),
      redrive: () => this.#call<Record<string, number>>("queue.redrive", name),
    };
  }

  bus(name: string): BusClient {
    return { put: (entries) => this.#call("bus.put", name, entries) };
  }

  schedule(name: string): { trigger(): Promise<{ scheduledTime: number }> } {
    return { trigger: () => this.#call("schedule.trigger", name) };
  }

  get s3() {
    const { endpoint, region, accessKeyId, secretAccessKey } = this.#child.ready.s3;
    // The emulator's S3 endpoint names each bucket as the app does.
    return { endpoint, region, credentials: { accessKeyId, secretAccessKey }, bucketName: (bucket: string) => bucket };
  }

  idle(): Promise<void> {
    return this.#call("idle");
  }

  advance(by: string | number): Promise<void> {
    return this.#call("advance", by);
  }

  now(): Promise<number> {
    return this.#call("now");
  }

  update(): Promise<void> {
    return this.#call("reload");
  }

  async restart(): Promise<void> {
    await this.#child.close();
    this.#child = await Child.start(this.#options);
  }

  async kill(): Promise<void> {
    await this.#child.kill();
    this.#child = await Child.start(this.#options);
  }

  reset(): Promise<void> {
    return this.#call("reset");
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.#child.close();
    } finally {
      await this.#remove();
    }
  }
}

/** The emulator in a child process of its own, state in `<copy>/.nimbus`, on a manual clock when asked. */
export const emulatorDriver: TargetDriver = {
  name: "emulator",
  canMoveTime: true,
  unavailable: async () => undefined,
  async deploy(appDir: string, options: DeployOptions = {}) {
    const copy = await copyApp(appDir);
    const childOptions: ChildOptions = {
      root: copy.dir,
      state: join(copy.dir, ".nimbus"),
      manualClock: options.manualClock ?? false,
    };
    try {
      const child = await Child.start(childOptions);
      return new EmulatorDeployment(copy.dir, childOptions, child, copy.remove);
    } catch (error) {
      await copy.remove();
      throw error;
    }
  },
};
