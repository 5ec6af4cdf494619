import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { NimbusError } from "@nimbus/core";
import type { BodySource } from "../body-writer.ts";
import type { BucketEntry, BucketRegistry } from "../registry.ts";
import {
  bucketLocation,
  bucketVersioning,
  createBucket,
  deleteBucket,
  headBucket,
  listBuckets,
  noSuchBucket,
} from "./buckets.ts";
import { listObjectsV1, listObjectsV2, listObjectVersions } from "./listing.ts";
import {
  abortUpload,
  completeUpload,
  createUpload,
  listParts,
  listUploads,
  uploadPart,
  uploadPartCopy,
} from "./multipart.ts";
import { chainOf, copyObject, copySource, deleteObject, deleteObjects, getObject, putObject } from "./objects.ts";
import { payloadOf } from "./payload.ts";
import { parseTarget, type S3Request, type S3Response } from "./request.ts";
import { isS3Error, S3Error, s3ErrorXml } from "./s3-error.ts";
import { carriesCredentials, type SignedRequest, verifySigV4 } from "./sigv4.ts";

/** One access key of the endpoint and the buckets it may use. */
export interface S3AccessKey {
  accessKeyId: string;
  secretAccessKey: string;
  /**
   * The buckets this key may use; any other is refused with S3's `AccessDenied`, and
   * ListBuckets shows only these. `"*"`: every bucket, and creating new ones.
   * @example ["shop-uploads-3f9a1c"]
   */
  buckets: readonly string[] | "*";
}

export interface S3EndpointOptions {
  host: string;
  port: number;
  registry: BucketRegistry;
  /** The keys clients sign with; at least one. */
  keys: readonly S3AccessKey[];
  /** The region the endpoint reports. Verification accepts any region a client signs with. */
  region: string;
  now: () => number;
  /**
   * How to fix a port in use, for the error.
   * @default "Stop that process or pass --s3-port <another>." (the emulator's flag)
   */
  portInUseFix?: string;
  /**
   * Serves `GET /_nimbus/health/live` (always 200) and `/_nimbus/health/ready` (200, or
   * 503 naming what it waits for) beside S3, unsigned, for orchestrators' probes. No
   * bucket can be called `_nimbus`, so no S3 path is taken. @default not served
   */
  health?: () => { waiting: string[] };
  /**
   * Checks a request's Host header before anything else: a message refuses it with S3's
   * `AccessDenied` (the emulator's defence against DNS rebinding). @default every host served
   */
  checkHost?: (host: string | undefined) => string | undefined;
  log: (level: "info" | "warn" | "error", message: string) => void;
}

/** XML request bodies (delete lists, part lists) are small; S3 caps them too. */
const maxXmlBody = 2 * 1024 * 1024;

/**
 * The emulator's buckets over the S3 API, path-style, on a port of their own so bucket
 * names never collide with the app's routes. Plain `node:http` rather than Request
 * objects: S3 keys need the raw request path (`a/../b` is a key, not a path to
 * normalise), and `Expect: 100-continue` is answered only once the request is
 * authenticated, so a client with bad credentials gets its error before sending the body.
 */
export class S3Endpoint {
  url = "";
  readonly #options: S3EndpointOptions;
  readonly #server: Server;
  readonly #keys: Map<string, S3AccessKey>;

  constructor(options: S3EndpointOptions) {
    this.#options = options;
    this.#keys = new Map(options.keys.map((key) => [key.accessKeyId, key]));
    this.#server = createServer((request, response) => void this.#serve(request, response, false));
    // With a listener, Node leaves `100 Continue` to #serve instead of sending it at once.
    this.#server.on("checkContinue", (request, response) => void this.#serve(request, response, true));
    // SDKs keep connections open between requests.
    this.#server.keepAliveTimeout = 60_000;
  }

  async listen(): Promise<void> {
    const { host, port } = this.#options;
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", (error: NodeJS.ErrnoException) =>
        reject(
          error.code === "EADDRINUSE"
            ? new NimbusError(
                "NIMBUS_EMULATOR_PORT_IN_USE",
                `Port ${port} on ${host} (the S3 endpoint) is in use. ${this.#options.portInUseFix ?? "Stop that process or pass --s3-port <another>."}`,
              )
            : error,
        ),
      );
      this.#server.listen(port, host, () => resolve());
    });
    const address = this.#server.address() as AddressInfo;
    this.url = `http://${address.family === "IPv6" ? `[${address.address}]` : address.address}:${address.port}`;
  }

  /** Stops at once: open connections are cut, requests in flight fail. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  /**
   * Stops accepting connections and resolves once every request in flight is answered
   * (idle kept-alive connections are closed; busy ones close after their response).
   */
  async drain(): Promise<void> {
    this.#draining = true;
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
  }

  // Request ids only need to be unique: a counter after a random start costs nothing.
  #nextRequest = randomBytes(4).readUInt32BE() * 1024;
  #requestId(): string {
    return (this.#nextRequest++).toString(16).toUpperCase().padStart(16, "0");
  }

  async #serve(incoming: IncomingMessage, outgoing: ServerResponse, expectsContinue: boolean): Promise<void> {
    const requestId = this.#requestId();
    const rawUrl = incoming.url ?? "/";
    const queryAt = rawUrl.indexOf("?");
    const rawPath = queryAt < 0 ? rawUrl : rawUrl.slice(0, queryAt);
    if (this.#options.health && rawPath.startsWith("/_nimbus/health/")) return this.#health(rawPath, outgoing);
    let resource = rawPath;
    try {
      const headers = headersOf(incoming);
      const refused = this.#options.checkHost?.(incoming.headers.host);
      if (refused !== undefined) throw new S3Error("AccessDenied", 403, refused);
      const target = parseTarget(rawPath);
      resource = target.key === undefined ? `/${target.bucket ?? ""}` : `/${target.bucket}/${target.key}`;
      const signed: SignedRequest = {
        method: incoming.method ?? "GET",
        url: `http://${headers.get("host") ?? "localhost"}${rawUrl}`,
        headers,
      };
      // S3 tells an anonymous caller that a bucket does not exist (bucket names are
      // public), and refuses everything else, whether or not the key exists.
      if (!carriesCredentials(signed) && target.bucket !== undefined) this.#bucket(target.bucket);
      const verified = verifySigV4(
        signed,
        (id) => this.#keys.get(id)?.secretAccessKey,
        this.#options.now(),
        Date.now(),
      );
      const grant = this.#keys.get(verified.accessKeyId)!.buckets;
      if (target.bucket !== undefined) allow(grant, target.bucket);
      if (expectsContinue) outgoing.writeContinue();
      const request: S3Request = {
        method: incoming.method ?? "GET",
        bucket: target.bucket,
        key: target.key,
        query: new URLSearchParams(queryAt < 0 ? "" : rawUrl.slice(queryAt + 1)),
        headers,
        signedHeaders: verified.signedHeaders,
        ...(await payloadOf(
          incoming as unknown as AsyncIterable<Uint8Array>,
          headers,
          verified,
          incoming.method ?? "GET",
        )),
        requestId,
      };
      const answer = await this.#dispatch(request, grant);
      this.#closingConnection(outgoing);
      await write(outgoing, answer, requestId, request.method === "HEAD");
    } catch (error) {
      const s3Error = toS3Error(error);
      if (s3Error.code === "InternalError") {
        this.#options.log("error", `S3 ${incoming.method} ${rawPath} failed: ${(error as Error).stack ?? error}`);
      } else if (refusals.has(s3Error.code)) {
        // Expected: a tool asking for what the endpoint does not do, or a key without access.
        this.#options.log("warn", `S3 ${incoming.method} ${rawUrl} refused: ${s3Error.code}: ${s3Error.message}`);
      }
      // A client waiting for 100 Continue sends no body: the connection cannot be reused.
      if (expectsContinue && !outgoing.headersSent) outgoing.setHeader("connection", "close");
      // Whatever of the request body is still unread is drained, so the connection can be reused.
      incoming.resume();
      const body = incoming.method === "HEAD" ? undefined : s3ErrorXml(s3Error, { resource, requestId });
      this.#closingConnection(outgoing);
      await write(
        outgoing,
        { status: s3Error.status, headers: body ? { "content-type": "application/xml" } : {}, body },
        requestId,
        incoming.method === "HEAD",
      ).catch(() => outgoing.destroy());
    }
  }

  #draining = false;
  /** While draining, a kept-alive connection closes after its response instead of idling. */
  #closingConnection(outgoing: ServerResponse): void {
    if (this.#draining && !outgoing.headersSent) outgoing.setHeader("connection", "close");
  }

  #health(path: string, outgoing: ServerResponse): void {
    const waiting = path === "/_nimbus/health/ready" ? this.#options.health!().waiting : [];
    const known = path === "/_nimbus/health/ready" || path === "/_nimbus/health/live";
    const status = !known ? 404 : waiting.length > 0 ? 503 : 200;
    const body = JSON.stringify(
      known ? { status: waiting.length > 0 ? "waiting" : "ok", waiting } : { status: "unknown" },
    );
    outgoing.writeHead(status, {
      "content-type": "application/json",
      "content-length": String(Buffer.byteLength(body)),
    });
    outgoing.end(body);
  }

  async #dispatch(request: S3Request, grant: S3AccessKey["buckets"]): Promise<S3Response> {
    const { method, query } = request;
    const { registry, region } = this.#options;
    const log = (message: string) => this.#options.log("info", message);
    if (request.bucket === undefined) {
      if (method === "GET") return listBuckets(registry, (name) => grant === "*" || grant.includes(name));
      throw notImplemented(method, "/");
    }
    if (request.key === undefined) {
      if (method === "PUT" && query.size === 0) {
        await drain(request.body);
        return createBucket(request, registry, log);
      }
      const bucket = this.#bucket(request.bucket);
      if (method === "HEAD") return headBucket(bucket, region);
      if (method === "DELETE" && query.size === 0) return deleteBucket(bucket, registry, log);
      if (method === "GET") {
        if (query.has("location")) return bucketLocation(region);
        if (query.has("versioning")) return bucketVersioning();
        if (query.has("versions")) return listObjectVersions(request, bucket);
        if (query.has("uploads")) return listUploads(request, bucket);
        if (query.get("list-type") === "2") return listObjectsV2(request, bucket);
        if (onlyListParams(query)) return listObjectsV1(request, bucket);
      }
      if (method === "POST" && query.has("delete"))
        return deleteObjects(bucket, await text(request.body), chainOf(request));
      if (method === "PUT" && query.has("versioning")) {
        throw notImplemented(
          method,
          `/${request.bucket}?versioning`,
          "Buckets here are unversioned and stay so: every object is its one version, with id null (GetBucketVersioning, ListObjectVersions and deletes by that id work).",
        );
      }
      throw notImplemented(method, `/${request.bucket}?${query}`);
    }
    const bucket = this.#bucket(request.bucket);
    const uploadId = query.get("uploadId");
    const copying = request.headers.has("x-amz-copy-source");
    switch (method) {
      case "GET":
        if (uploadId !== null) return listParts(request, bucket);
        return getObject(request, bucket, false);
      case "HEAD":
        return getObject(request, bucket, true);
      case "PUT":
        if (uploadId !== null && query.has("partNumber")) {
          if (!copying) return uploadPart(request, bucket);
          const source = copySource(request);
          allow(grant, source.bucket);
          return uploadPartCopy(request, bucket, this.#bucket(source.bucket), source.key);
        }
        if (copying) {
          await drain(request.body);
          const source = copySource(request);
          allow(grant, source.bucket);
          return copyObject(request, bucket, this.#bucket(source.bucket), source.key);
        }
        return putObject(request, bucket);
      case "POST":
        if (query.has("uploads")) {
          await drain(request.body);
          return createUpload(request, bucket);
        }
        if (uploadId !== null) return completeUpload(request, bucket, await text(request.body));
        break;
      case "DELETE":
        if (uploadId !== null) return abortUpload(request, bucket);
        return deleteObject(request, bucket);
    }
    throw notImplemented(method, `/${request.bucket}/${request.key}?${query}`);
  }

  #bucket(name: string): BucketEntry {
    const bucket = this.#options.registry.get(name);
    if (!bucket) throw noSuchBucket(name);
    return bucket;
  }
}

/**
 * Refuses a bucket the key is not granted, before looking it up, as S3 does: a key
 * without access learns nothing, not even whether the bucket exists.
 */
function allow(grant: S3AccessKey["buckets"], bucket: string): void {
  if (grant !== "*" && !grant.includes(bucket)) throw new S3Error("AccessDenied", 403, "Access Denied");
}

const listParams = new Set(["prefix", "delimiter", "marker", "max-keys", "encoding-type"]);
function onlyListParams(query: URLSearchParams): boolean {
  for (const name of query.keys()) if (!listParams.has(name)) return false;
  return true;
}

function notImplemented(method: string, what: string, why = ""): S3Error {
  return new S3Error(
    "NotImplemented",
    501,
    `A header or query you provided implies functionality that is not implemented: the Nimbus S3 endpoint does not serve ${method} ${what}.${why ? ` ${why}` : ""} See docs/buckets.md for what the S3 endpoint supports.`,
  );
}

/** Errors that are the endpoint saying no, not failing: logged as one line each. */
const refusals = new Set(["NotImplemented", "AccessDenied"]);

function headersOf(incoming: IncomingMessage): Headers {
  const headers = new Headers();
  const raw = incoming.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  return headers;
}

async function text(body: BodySource): Promise<string> {
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString("utf8");
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > maxXmlBody) throw new S3Error("MaxMessageLengthExceeded", 400, "Your request was too big.");
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf8");
}

async function drain(body: BodySource): Promise<void> {
  if (body instanceof Uint8Array) return;
  for await (const _ of body as AsyncIterable<Uint8Array>) {
    // Requests that carry no payload may still send a few bytes (an empty XML config).
  }
}

async function write(outgoing: ServerResponse, answer: S3Response, requestId: string, head: boolean): Promise<void> {
  const headers: Record<string, string> = {
    "x-amz-request-id": requestId,
    "x-amz-id-2": requestId,
    server: "NimbusS3",
    ...answer.headers,
  };
  const body = answer.body;
  if (typeof body === "string" && !headers["content-type"]) headers["content-type"] = "application/xml";
  if (body === undefined || head) {
    headers["content-length"] ??= "0";
    outgoing.writeHead(answer.status, headers);
    outgoing.end();
    if (body instanceof ReadableStream) await body.cancel();
    return;
  }
  if (!(body instanceof ReadableStream)) {
    const bytes = typeof body === "string" ? Buffer.from(body) : body;
    headers["content-length"] = String(bytes.byteLength);
    outgoing.writeHead(answer.status, headers);
    outgoing.end(bytes);
    return;
  }
  outgoing.writeHead(answer.status, headers);
  const source = Readable.fromWeb(body as import("node:stream/web").ReadableStream<Uint8Array>);
  await new Promise<void>((resolve, reject) => {
    source.once("error", reject);
    outgoing.once("close", () => {
      source.destroy();
      resolve();
    });
    source.pipe(outgoing);
  });
}

/** What a store error means to an S3 client. */
function toS3Error(error: unknown): S3Error {
  if (isS3Error(error)) return error;
  if (NimbusError.is(error)) {
    const cause = (error as { cause?: unknown }).cause;
    if (isS3Error(cause)) return cause;
    const mapped = storeErrors[error.code];
    if (mapped) return new S3Error(mapped[0], mapped[1], error.message);
  }
  return new S3Error("InternalError", 500, "We encountered an internal error. Please try again.");
}

const storeErrors: Record<string, [string, number]> = {
  NIMBUS_BUCKET_KEY: ["KeyTooLongError", 400],
  NIMBUS_BUCKET_ARGUMENT: ["InvalidArgument", 400],
  NIMBUS_BUCKET_PRECONDITION: ["PreconditionFailed", 412],
  NIMBUS_BUCKET_SOURCE_PRECONDITION: ["PreconditionFailed", 412],
  NIMBUS_BUCKET_RANGE: ["InvalidRange", 416],
  NIMBUS_BUCKET_TOO_LARGE: ["EntityTooLarge", 400],
  NIMBUS_BUCKET_BAD_DIGEST: ["BadDigest", 400],
  NIMBUS_BUCKET_NO_SUCH_KEY: ["NoSuchKey", 404],
  NIMBUS_BUCKET_NO_SUCH_UPLOAD: ["NoSuchUpload", 404],
  NIMBUS_BUCKET_PART: ["InvalidPart", 400],
  NIMBUS_BUCKET_PART_ORDER: ["InvalidPartOrder", 400],
  NIMBUS_BUCKET_PART_TOO_SMALL: ["EntityTooSmall", 400],
  NIMBUS_BUCKET_BODY: ["IncompleteBody", 400],
};
