// The bucket kind's plugin. It belongs in bucket/plugin.ts; it sits here while the bucket
// store moves into @nimbus/store, and moves into that folder once the move has landed.
import { type Graph, NimbusError, resourcesOf, unknownResource } from "@nimbus/core";
import type { BucketClient } from "@nimbus/runtime";
import { bucketClient } from "@nimbus/runtime/target";
import { type BucketEntry, BucketRegistry, S3Endpoint } from "@nimbus/store";
import type { Clock } from "../clock/clock.ts";
import type { Work } from "../clock/work.ts";
import type { Logger } from "../logs/logger.ts";
import type { Credentials } from "../state/credentials.ts";
import { BucketNotifier, type BucketNotifierOptions } from "./bucket/notifications.ts";
import { type PresignRequest, presignRequestSchema, presignUrl } from "./bucket/presign.ts";
import { storeTransport } from "./bucket/transport.ts";
import type { Plugin, Service } from "./plugin.ts";

/** The region the S3 endpoint reports; clients may sign for any region. */
export const s3Region = "us-east-1";

export interface BucketPluginContext {
  stateDir: string;
  /** Address and port of the S3-compatible endpoint; port 0 picks a free one. */
  host: string;
  port: number;
  credentials: Credentials;
  /** Whether the emulator serves a request's Host: undefined when it does, else why not (S3's AccessDenied). */
  checkHost(host: string | undefined): string | undefined;
  clock: Clock;
  /** Where notification drains are counted, so tests can wait for them. */
  work: Work;
  logger: Logger;
  /** Puts a bucket's notification events on a bus (the bucket → bus pairing). */
  put: BucketNotifierOptions["put"];
}

/**
 * Buckets in the emulator: every bucket's files under `<state>/buckets/`, served to
 * functions (which open the stores in their own threads), to tests (`emu.bucket`) and to
 * S3 clients through the S3-compatible endpoint; recorded changes go to the buses their
 * notifications name.
 */
export class BucketPlugin implements Plugin {
  readonly kind = "bucket";
  readonly stateEntries = ["buckets"];
  readonly #ctx: BucketPluginContext;
  readonly #registry: BucketRegistry;
  readonly #notifier: BucketNotifier;
  #s3: S3Endpoint | undefined;
  /** Notifications start once every plugin is up; what is recorded before that waits in the outbox. */
  #notifying = false;

  readonly services: Readonly<Record<string, Service>> = {
    presign: async ({ from, resource, args }: { from: string; resource: string; args: unknown }) => {
      const parsed = presignRequestSchema.safeParse(args);
      if (!parsed.success) {
        throw new NimbusError(
          "NIMBUS_BUCKET_ARGUMENT",
          `bucket "${resource}": presign takes (key, { method: "GET" | "PUT", expiresIn }); function "${from}" sent something else`,
        );
      }
      return this.#presign(resource, parsed.data);
    },
    /** A function's write recorded a change for the bucket's notifications. */
    changed: async ({ resource }: { resource: string }) => {
      const entry = this.#registry.get(resource);
      if (entry) this.#notify(entry);
      return undefined;
    },
  };

  constructor(ctx: BucketPluginContext) {
    this.#ctx = ctx;
    this.#registry = new BucketRegistry({
      stateDir: ctx.stateDir,
      now: () => ctx.clock.now(),
      onChange: (entry) => this.#notify(entry),
    });
    this.#notifier = new BucketNotifier({
      put: ctx.put,
      log: (level, message) => ctx.logger.log({ level, message }),
    });
  }

  /** Opens the buckets (sweeping what a killed process left) and the S3 endpoint. */
  async start(graph: Graph): Promise<void> {
    this.#registry.apply(resourcesOf(graph, "bucket"), true);
    const ctx = this.#ctx;
    this.#s3 = new S3Endpoint({
      host: ctx.host,
      port: ctx.port,
      registry: this.#registry,
      // The emulator's one key may use every bucket.
      keys: [{ ...ctx.credentials.s3, buckets: "*" }],
      region: s3Region,
      now: () => ctx.clock.now(),
      checkHost: ctx.checkHost,
      log: (level, message) => ctx.logger.log({ level, message }),
    });
    await this.#s3.listen();
  }

  /** New buckets open; removed ones keep their objects as scratch buckets. */
  async apply(graph: Graph): Promise<string[]> {
    return this.#registry.apply(resourcesOf(graph, "bucket"), false);
  }

  /**
   * Changes a killed process recorded but did not get to notify, those recorded meanwhile
   * for a bus a reload adds, and those of a bucket whose notifications it removed (dropped now).
   */
  ready(): void {
    this.#notifying = true;
    for (const entry of this.#registry.all()) this.#notify(entry);
  }

  /** Declared buckets are emptied in place, so functions holding them keep working; scratch ones go. */
  async reset(): Promise<void> {
    this.#registry.reset();
  }

  async close(): Promise<void> {
    await this.#s3?.close();
    this.#registry.close();
  }

  /** The S3 endpoint's URL, once it listens. */
  get url(): string {
    return this.#s3?.url ?? "";
  }

  /** A declared bucket's client, as functions get it; throws naming the app's buckets for another name. */
  client(name: string, app: string): BucketClient {
    const entry = this.#registry.get(name);
    if (!entry?.declared) throw unknownResource("bucket", name, this.#registry.declaredNames(), app);
    return bucketClient(
      name,
      storeTransport(
        () => entry.store,
        (key, options) => this.#presign(name, { key, ...options }),
      ),
    );
  }

  /** A SigV4 URL for the S3 endpoint, as a deployed S3 store hands out; the endpoint serves it. */
  #presign(bucket: string, request: PresignRequest): Promise<string> {
    return presignUrl({
      endpoint: this.url,
      credentials: { ...this.#ctx.credentials.s3, region: s3Region },
      bucket,
      request,
      now: this.#ctx.clock.now(),
    });
  }

  /** Puts a bucket's recorded changes on the buses its notifications name, as tracked work. */
  #notify(entry: BucketEntry): void {
    if (this.#notifying) this.#ctx.work.track(this.#notifier.drain(entry));
  }
}
