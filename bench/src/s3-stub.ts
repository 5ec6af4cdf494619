/**
 * The S3 benchmark's ceiling: a server that answers S3 object PUTs and GETs as fast as
 * `node:http` can, storing nothing and checking no signature, so a client's ops/s
 * against it is what the SDK itself allows on this machine. A PUT's body is read to its
 * end and dropped; a GET answers `sizeOf(key)` bytes, streamed from one reused buffer.
 * No `x-amz-checksum-*` header is ever sent, so the SDK has nothing to validate.
 */
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface S3Stub {
  /** `http://127.0.0.1:<port>`. */
  endpoint: string;
  close(): Promise<void>;
}

/** What every answer carries; fixed, so no request computes anything. */
const etag = `"${randomBytes(16).toString("hex")}"`;
const lastModified = new Date().toUTCString();
/** GETs larger than this are written in pieces of it, each the same buffer. */
const piece = 1024 * 1024;

/** Starts the stub on a free port of 127.0.0.1; a GET of `/bucket/key` answers `sizeOf(key)` bytes. */
export async function startS3Stub(sizeOf: (key: string) => number): Promise<S3Stub> {
  const filler = Buffer.alloc(piece, 7);
  const server = createServer((request, response) => {
    serve(request, response, sizeOf, filler).catch(() => response.destroy());
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async close() {
      const closed = once(server, "close");
      server.close();
      server.closeAllConnections();
      await closed;
    },
  };
}

async function serve(
  request: IncomingMessage,
  response: ServerResponse,
  sizeOf: (key: string) => number,
  filler: Buffer,
): Promise<void> {
  if (request.method === "PUT") {
    request.resume();
    await once(request, "end");
    response.writeHead(200, { etag, "content-length": "0" });
    response.end();
    return;
  }
  if (request.method !== "GET") {
    request.resume();
    response.writeHead(501, { "content-length": "0" });
    response.end();
    return;
  }
  const path = (request.url ?? "/").split("?")[0]!;
  const key = decodeURIComponent(path.slice(path.indexOf("/", 1) + 1));
  const size = sizeOf(key);
  response.writeHead(200, {
    "content-length": String(size),
    "content-type": "application/octet-stream",
    etag,
    "last-modified": lastModified,
    "accept-ranges": "bytes",
  });
  let left = size;
  while (left > piece) {
    if (!response.write(filler)) await drained(response);
    if (response.destroyed) return;
    left -= piece;
  }
  response.end(filler.subarray(0, left));
}

/** Waits until the response takes more, or until the client has gone. */
function drained(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      response.off("drain", done);
      response.off("close", done);
      resolve();
    };
    response.on("drain", done);
    response.on("close", done);
  });
}
