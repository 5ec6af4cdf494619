import { NimbusError } from "@nimbus/core";
import { bucketError } from "./errors.ts";
import { objectHeaders, parseRange } from "./http.ts";
import { verifyPresigned } from "./presign.ts";
import type { BucketStore } from "./store.ts";

/**
 * Serves a presigned URL: GET and HEAD read the object (one `Range` is honoured), PUT
 * stores the request body with its content type. Errors answer the control API's
 * `{ error: { code, message } }`.
 */
export async function servePresigned(
  request: Request,
  bucket: string,
  store: BucketStore | undefined,
  secret: string,
  now: number,
): Promise<Response> {
  try {
    if (!store) {
      throw new NimbusError(
        "NIMBUS_BUCKET_UNKNOWN",
        `The app has no bucket "${bucket}"; this URL was signed for a bucket since removed.`,
      );
    }
    const { key } = verifyPresigned(request, bucket, secret, now);
    if (request.method === "PUT") {
      const record = await store.put(key, request.body ?? new Uint8Array(), {
        contentType: request.headers.get("content-type") ?? undefined,
      });
      return new Response(null, { status: 200, headers: { etag: `"${record.etag}"` } });
    }
    if (request.method === "HEAD") {
      const record = store.head(key);
      if (!record) throw missing(bucket, key);
      return new Response(null, {
        status: 200,
        headers: { ...objectHeaders(record), "content-length": String(record.size) },
      });
    }
    const range = parseRange(request.headers.get("range"));
    const result = await store.get(key, { range });
    if (result.status === "missing") throw missing(bucket, key);
    if (result.status !== "ok") throw new Error("unreachable: no conditions were given");
    const headers = new Headers({ ...objectHeaders(result.object), "content-length": String(result.range.length) });
    if (range) {
      const { offset, length } = result.range;
      headers.set("content-range", `bytes ${offset}-${offset + length - 1}/${result.object.size}`);
    }
    return new Response(result.body as ConstructorParameters<typeof Response>[0], {
      status: range ? 206 : 200,
      headers,
    });
  } catch (error) {
    if (!NimbusError.is(error)) throw error;
    const status = statusOf(error.code);
    return Response.json({ error: { code: error.code, message: error.message } }, { status });
  }
}

function missing(bucket: string, key: string): NimbusError {
  return bucketError("NIMBUS_BUCKET_NO_SUCH_KEY", bucket, key, "no object has this key");
}

function statusOf(code: string): number {
  switch (code) {
    case "NIMBUS_BUCKET_NO_SUCH_KEY":
    case "NIMBUS_BUCKET_UNKNOWN":
      return 404;
    case "NIMBUS_BUCKET_RANGE":
      return 416;
    case "NIMBUS_BUCKET_TOO_LARGE":
      return 413;
    case "NIMBUS_PRESIGN_INVALID":
    case "NIMBUS_PRESIGN_EXPIRED":
    case "NIMBUS_PRESIGN_METHOD":
      return 403;
    default:
      return 400;
  }
}
