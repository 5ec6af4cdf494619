import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { givenBody, installLazyWeb, lazyRequest } from "./lazy-web.ts";
import { headerPairs, packHeaders } from "./protocol.ts";

const platform = { Request: globalThis.Request, Response: globalThis.Response, fetch: globalThis.fetch };

let server: Server;
let origin: string;

beforeAll(async () => {
  installLazyWeb();
  // Echoes what it got, so a request sent with `fetch` can be checked as the server saw it.
  server = createServer(async (incoming, outgoing) => {
    const chunks: Buffer[] = [];
    for await (const chunk of incoming) chunks.push(chunk as Buffer);
    outgoing.setHeader("content-type", "application/json");
    outgoing.end(
      JSON.stringify({
        method: incoming.method,
        url: incoming.url,
        label: incoming.headers["x-label"],
        body: Buffer.concat(chunks).toString(),
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  Object.assign(globalThis, platform);
  await new Promise((resolve) => server.close(resolve));
});

const post = (url = "http://app.localhost/orders?x=1", signal = new AbortController().signal) =>
  lazyRequest({
    method: "POST",
    url,
    headers: packHeaders([
      ["Content-Type", "application/json"],
      ["X-Label", "a"],
      ["X-Label", "b"],
    ]),
    body: new TextEncoder().encode('{"sku":"tea"}'),
    signal,
  });

describe("lazyRequest", () => {
  it("is a Request with the method, URL, headers and body it was made of", async () => {
    const request = post();
    expect(request instanceof Request).toBe(true);
    expect(request instanceof platform.Request).toBe(true);
    expect(request.method).toBe("POST");
    expect(request.url).toBe("http://app.localhost/orders?x=1");
    expect(request.headers.get("content-type")).toBe("application/json");
    expect(request.headers.get("x-label")).toBe("a, b");
    expect(request.bodyUsed).toBe(false);
    expect(await request.json()).toEqual({ sku: "tea" });
    expect(request.bodyUsed).toBe(true);
    await expect(request.text()).rejects.toThrow(TypeError);
  });

  it("has the invocation's signal, which aborts when the invocation is cut off", () => {
    const controller = new AbortController();
    const request = post(undefined, controller.signal);
    expect(request.signal).toBe(controller.signal);
    controller.abort(new Error("timed out"));
    expect(request.signal.aborted).toBe(true);
  });

  it("copies as a real one does: new Request(it), with and without changes, and clone()", async () => {
    const controller = new AbortController();
    const copy = new Request(post(undefined, controller.signal));
    expect([copy.method, copy.url, copy.headers.get("x-label"), await copy.text()]).toEqual([
      "POST",
      "http://app.localhost/orders?x=1",
      "a, b",
      '{"sku":"tea"}',
    ]);
    const changed = new Request(post(undefined, controller.signal), { method: "PUT", headers: { "x-label": "c" } });
    expect([changed.method, changed.headers.get("x-label"), await changed.text()]).toEqual([
      "PUT",
      "c",
      '{"sku":"tea"}',
    ]);
    const original = post();
    const clone = original.clone();
    expect(await clone.text()).toBe('{"sku":"tea"}');
    expect(await original.text()).toBe('{"sku":"tea"}');
    // A copy follows the invocation's signal.
    const follows = new Request(post(undefined, controller.signal));
    controller.abort();
    expect(follows.signal.aborted).toBe(true);
  });

  it("is sent by fetch as it is: method, path, headers and body reach the server", async () => {
    const response = await fetch(post(`${origin}/orders?x=1`));
    expect(await response.json()).toEqual({ method: "POST", url: "/orders?x=1", label: "a, b", body: '{"sku":"tea"}' });
  });
});

describe("Response in a worker", () => {
  it("keeps a string body as given until someone reads it", async () => {
    const response = new Response("hello", { headers: { "content-type": "text/plain" } });
    expect(givenBody(response)).toBe("hello");
    expect(await response.text()).toBe("hello");
    expect(givenBody(response)).toBeUndefined();
  });

  it("reads as the platform's Response does, though it makes no stream until then", async () => {
    const inits: (ResponseInit | undefined)[] = [
      undefined,
      { status: 201, statusText: "Made", headers: { "x-id": "7" } },
      { headers: { "content-type": "application/json" } },
      {
        status: 404,
        headers: [
          ["set-cookie", "a=1"],
          ["set-cookie", "b=2"],
        ],
      },
    ];
    const seen = async (response: Response) => [
      response.status,
      response.statusText,
      response.ok,
      [...response.headers],
      response.bodyUsed,
      await response.text(),
      response.bodyUsed,
    ];
    for (const init of inits) {
      expect(await seen(new Response('{"a":1}', init))).toEqual(await seen(new platform.Response('{"a":1}', init)));
    }
    const read = new Response("héllo", { headers: { "content-type": "text/x-greeting" } });
    const blob = await read.clone().blob();
    expect([blob.type, blob.size]).toEqual(["text/x-greeting", 6]);
    expect(new TextDecoder().decode(await read.clone().arrayBuffer())).toBe("héllo");
    expect(await new Response("[1,2]").json()).toEqual([1, 2]);
    expect(new TextDecoder().decode(await new Response("ok").bytes())).toBe("ok");
    expect(
      (
        await new Response("a=1&b=2", { headers: { "content-type": "application/x-www-form-urlencoded" } }).formData()
      ).get("b"),
    ).toBe("2");
    // The body as a stream, read by hand: used afterwards, and nothing is left to give.
    const streamed = new Response("chunked");
    expect(await new platform.Response(streamed.body).text()).toBe("chunked");
    expect(streamed.bodyUsed).toBe(true);
    expect(givenBody(streamed)).toBeUndefined();
    await expect(streamed.text()).rejects.toThrow(TypeError);
  });

  it("clones, and keeps headers set after it was made", async () => {
    const response = new Response("twice", { status: 202 });
    response.headers.set("x-later", "yes");
    const copy = response.clone();
    expect([copy.status, copy.headers.get("x-later"), await copy.text()]).toEqual([202, "yes", "twice"]);
    expect(givenBody(response)).toBe("twice");
    expect(await response.text()).toBe("twice");
    expect(() => response.clone()).toThrow(TypeError);
  });

  it("refuses a body with a null-body status, as the platform does", () => {
    expect(() => new Response("x", { status: 204 })).toThrow(TypeError);
    expect(() => new Response("x", { status: 99 })).toThrow(RangeError);
    expect(new Response(null, { status: 204 }).status).toBe(204);
  });

  it("hands over no body it cannot vouch for: bytes, streams, the platform's own Responses", () => {
    expect(givenBody(new Response(new Uint8Array([104, 105])))).toBeUndefined();
    expect(givenBody(new Response(new Blob(["hi"]).stream()))).toBeUndefined();
    expect(givenBody(Response.json({ a: 1 }))).toBeUndefined();
  });

  it("counts the platform's Responses as Responses, so a handler may return any of them", () => {
    expect(Response.json({ a: 1 }) instanceof Response).toBe(true);
    expect(Response.redirect("http://app.localhost/", 302) instanceof Response).toBe(true);
    expect(new platform.Response("x") instanceof Response).toBe(true);
    expect(new Response("x") instanceof platform.Response).toBe(true);
    expect({} instanceof Response).toBe(false);
  });
});

describe("packed headers", () => {
  it("keep order, repeated names and empty values", () => {
    const pairs: [string, string][] = [
      ["Set-Cookie", "a=1"],
      ["X-Empty", ""],
      ["Set-Cookie", "b=2"],
    ];
    expect(headerPairs(packHeaders(pairs))).toEqual(pairs);
    expect(headerPairs(packHeaders([]))).toEqual([]);
  });
});
