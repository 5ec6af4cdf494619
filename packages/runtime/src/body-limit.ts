import { formatSize } from "@nimbus/core";

/**
 * Enforces a function's `maxBodySize` without buffering, on every target: a declared
 * Content-Length over the limit is refused at once; a streamed body is counted as it
 * flows and cut off when it passes the limit (`exceeded()` then says so).
 */
export function limitBody(
  request: Request,
  maxBytes: number,
): { request: Request; exceeded: () => boolean } | Response {
  const declared = Number(request.headers.get("content-length") ?? Number.NaN);
  if (declared > maxBytes) return tooLarge(maxBytes);
  if (!request.body) return { request, exceeded: () => false };
  let seen = 0;
  let exceeded = false;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      seen += chunk.byteLength;
      if (seen > maxBytes) {
        exceeded = true;
        controller.error(new RangeError(`request body is larger than ${formatSize(maxBytes)}`));
        return;
      }
      controller.enqueue(chunk);
    },
  });
  const limited = new Request(request, { body: request.body.pipeThrough(counter), duplex: "half" } as RequestInit);
  return { request: limited, exceeded: () => exceeded };
}

/** The 413 every target answers with when a body passes `maxBodySize`. */
export function tooLarge(maxBytes: number): Response {
  return new Response(`request body is larger than this function's maxBodySize (${formatSize(maxBytes)})\n`, {
    status: 413,
    headers: { "content-type": "text/plain; charset=utf-8", connection: "close" },
  });
}
