// The object store of the processes target: the Nimbus store service (packages/store,
// `node packages/store/src/service/main.ts`), as the deployed target runs it, configured
// only by its environment: the app's graph (its buckets and their notifications), one
// access key per function that links buckets (core's `storeKeys`) plus the driver's own
// key for every bucket, and the store's NATS user to publish notifications from its
// outbox. Its data folder survives restart() and kill().
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { type Graph, type StoreSecret, storeBuckets, storeKeys } from "@nimbus/core";
import { freePort, stopProcess } from "@nimbus/runtime/host/testing";
import { repoRoot } from "../../../support/cli.ts";
import type { NatsLogin } from "./nats.ts";

const storeMain = join(repoRoot, "packages/store/src/service/main.ts");
const region = "us-east-1";
/** How long the store may take to answer ready. */
const readyTimeout = 30_000;
/** How much of the store's output is kept for the message of a failed start. */
const keptOutput = 16 * 1024;

/** A running object store with an S3 endpoint on 127.0.0.1. */
export interface Store {
  readonly endpoint: string;
  readonly region: string;
  /** The driver's own key: every bucket. */
  readonly credentials: StoreSecret;
  /** Function `fn`'s key, when it links a bucket. */
  keyOf(fn: string): StoreSecret | undefined;
  /** How the hosts' S3 transport must make conditional writes on this store. */
  readonly conditionalWrites: "store" | "check-first";
  /**
   * Serves `graph`'s buckets, keys and notifications from now on: a restart on the same
   * data when they changed (the store service has no reload), else nothing.
   */
  reconfigure(graph: Graph, nats: NatsLogin | undefined): Promise<void>;
  /** Deletes every object and every change waiting to be published: a SIGKILL, the data removed, a start. */
  empty(): Promise<void>;
  /** SIGTERM, then a start on the same port and data. */
  restart(): Promise<void>;
  /** SIGKILL: nothing flushed; `start()` brings it back on the same port and data. */
  kill(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface StoreOptions {
  graph: Graph;
  /** The prefix of physical names, as the hosts use it. */
  prefix: string;
  natsUrl: string;
  /** The store's NATS user; undefined when no bucket notifies a bus. */
  nats: NatsLogin | undefined;
}

/** Starts the store on `directory` (kept across restarts; the caller removes it). */
export async function startStore(directory: string, options: StoreOptions): Promise<Store> {
  const data = join(directory, "data");
  await mkdir(data, { recursive: true });
  const listen = `127.0.0.1:${await freePort()}`;
  const secret = (id: string): StoreSecret => ({
    accessKeyId: `${id}-${randomBytes(4).toString("hex")}`,
    secretAccessKey: randomBytes(24).toString("base64url"),
  });
  const credentials = secret("conformance");
  const secrets = new Map<string, StoreSecret>();
  const secretFor = (fn: string) => {
    if (!secrets.has(fn)) secrets.set(fn, secret(`fn-${fn}`.slice(0, 40)));
    return secrets.get(fn)!;
  };
  let graph = options.graph;
  let nats = options.nats;
  let keys = storeKeys(graph, secretFor, { prefix: options.prefix });

  let child: ChildProcess | undefined;
  let output = "";
  const start = async () => {
    output = "";
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("NIMBUS_")));
    const env: Record<string, string> = {
      ...inherited,
      NIMBUS_STORE_LISTEN: listen,
      NIMBUS_STORE_DATA: data,
      NIMBUS_STORE_KEYS: JSON.stringify(
        [{ ...credentials, buckets: "*" as const }, ...Object.values(keys)].map((key) => ({
          accessKeyId: key.accessKeyId,
          secretAccessKey: key.secretAccessKey,
          buckets: key.buckets,
        })),
      ),
      NIMBUS_STORE_REGION: region,
      NIMBUS_GRAPH: JSON.stringify(graph),
      NIMBUS_PREFIX: options.prefix,
    };
    if (nats) {
      env.NIMBUS_NATS_URL = options.natsUrl;
      env.NIMBUS_NATS_USER = nats.user;
      env.NIMBUS_NATS_PASSWORD = nats.pass;
    }
    const proc = spawn(
      process.execPath,
      ["--conditions=nimbus-source", "--disable-warning=ExperimentalWarning", "--enable-source-maps", storeMain],
      { env, stdio: ["ignore", "pipe", "pipe"] },
    );
    child = proc;
    const keep = (chunk: Buffer) => {
      if (process.env.NIMBUS_CONFORMANCE_LOGS) process.stderr.write(`[store] ${chunk}`);
      output = (output + chunk.toString()).slice(-keptOutput);
    };
    proc.stdout?.on("data", keep);
    proc.stderr?.on("data", keep);
    await ready(proc);
  };
  // Polled: the readiness endpoint is the store's only signal, as for an orchestrator.
  const ready = async (proc: ChildProcess) => {
    const deadline = Date.now() + readyTimeout;
    let last = "no answer";
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        throw new Error(
          `the store exited (${proc.signalCode ?? `code ${proc.exitCode}`}) before it was ready:\n${output}`,
        );
      }
      try {
        const response = await fetch(`http://${listen}/_nimbus/health/ready`);
        if (response.ok) return;
        last = `${response.status} ${await response.text()}`;
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline) {
        throw new Error(`the store was not ready within ${readyTimeout / 1000}s (${last}):\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  const end = async (signal: NodeJS.Signals) => {
    const proc = child;
    child = undefined;
    await stopProcess(proc, signal);
  };

  await start();
  return {
    endpoint: `http://${listen}`,
    region,
    credentials,
    keyOf: (fn) => {
      const key = keys[fn];
      return key ? { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey } : undefined;
    },
    conditionalWrites: "store",
    async reconfigure(next, login) {
      const nextKeys = storeKeys(next, secretFor, { prefix: options.prefix });
      // The store reads only the buckets, their notifications and the keys: another change needs no restart.
      const served = (g: Graph, k: typeof keys, n: NatsLogin | undefined) =>
        JSON.stringify([storeBuckets(g, { prefix: options.prefix }), k, n?.user]);
      if (served(next, nextKeys, login) === served(graph, keys, nats)) return;
      graph = next;
      nats = login;
      keys = nextKeys;
      await end("SIGTERM");
      await start();
    },
    async empty() {
      await end("SIGKILL");
      await rm(data, { recursive: true, force: true });
      await mkdir(data, { recursive: true });
      await start();
    },
    async restart() {
      await end("SIGTERM");
      await start();
    },
    kill: () => end("SIGKILL"),
    start,
    stop: () => end("SIGTERM"),
  };
}
