import { readFile, stat, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { join } from "node:path";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";

let emu: Emulator;
let remove: () => Promise<void>;

beforeAll(async () => {
  const copy = await copyFixture("emulator");
  remove = copy.remove;
  await writeFile(join(copy.dir, ".env"), 'TOKEN="s3cret"\n');
  emu = await createEmulator({ root: copy.dir, watch: false });
});

afterAll(async () => {
  await emu?.close();
  await remove?.();
});

describe("emulator: functions over HTTP on 127.0.0.1", () => {
  it("serve: binds to 127.0.0.1", () => {
    expect(new URL(emu.url).hostname).toBe("127.0.0.1");
  });

  it("route: passes path parameters, config and secrets to the handler", async () => {
    const response = await emu.fetch("/hello/ada");
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ message: "hello ada", token: "s3cret", version: "v1" });
  });

  it("route: a trailing wildcard takes the rest of the path", async () => {
    expect(await (await emu.fetch("/files/a/b/c.txt")).json()).toEqual({ rest: "a/b/c.txt" });
  });

  it("route: HEAD is served by the GET route without a body, as Hono does", async () => {
    const response = await emu.fetch("/hello/ada", { method: "HEAD" });
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("");
  });

  it("route: an unknown path answers 404 listing the app's routes", async () => {
    const response = await emu.fetch("/nope");
    expect(response.status).toBe(404);
    const text = await response.text();
    expect(text).toContain("No route matches GET /nope.");
    expect(text).toMatch(/GET \/hello\/:name\s+→ hello/);
  });

  it("logs: console output carries the function and invocation id; each request gets a line", async () => {
    await emu.fetch("/hello/grace");
    const line = emu.logs.find((entry) => entry.message === "greeting grace");
    expect(line).toMatchObject({ fn: "hello", level: "info" });
    expect(line?.invocationId).toMatch(/^[0-9a-f]{8}$/);
    expect(emu.logs).toContainEqual(
      expect.objectContaining({
        fn: "hello",
        invocationId: line?.invocationId,
        message: expect.stringMatching(/^GET \/hello\/grace 200 \d+ms$/),
      }),
    );
  });

  it("stream: a request body streams through the handler and back", async () => {
    const chunks = Array.from({ length: 8 }, (_, i) => new Uint8Array(4096).fill(i));
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift();
        if (next) controller.enqueue(next);
        else controller.close();
      },
    });
    const response = await emu.fetch("/echo", { method: "POST", body, duplex: "half" } as RequestInit);
    expect(response.status).toBe(200);
    const echoed = new Uint8Array(await response.arrayBuffer());
    expect(echoed.byteLength).toBe(8 * 4096);
    expect(echoed[4096 * 7]).toBe(7);
  });

  it("stream: a response's first chunk arrives before the handler has finished", async () => {
    const response = await emu.fetch("/stream");
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("first;");
    // Only now does the handler get to write the rest.
    expect(await (await emu.fetch("/stream/release", { method: "POST" })).text()).toBe("released");
    let rest = "";
    for (let r = await reader.read(); !r.done; r = await reader.read()) rest += new TextDecoder().decode(r.value);
    expect(rest).toBe("second");
  });

  it("maxBodySize: a declared Content-Length over the limit answers 413", async () => {
    const response = await emu.fetch("/echo", { method: "POST", body: new Uint8Array(65 * 1024) });
    expect(response.status).toBe(413);
    expect(await response.text()).toMatch(/maxBodySize \(64KiB\)/);
  });

  it("maxBodySize: a streamed body that grows past the limit answers 413", async () => {
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 100 * 1024) return controller.close();
        sent += 8 * 1024;
        controller.enqueue(new Uint8Array(8 * 1024));
      },
    });
    const response = await emu.fetch("/echo", { method: "POST", body, duplex: "half" } as RequestInit);
    expect(response.status).toBe(413);
  });

  it("crash: a throw gives 500 with its stack in the logs, pointing at the author's .ts line", async () => {
    const response = await emu.fetch("/throw");
    expect(response.status).toBe(500);
    expect(await response.text()).toContain("handler threw on purpose");
    const logged = emu.logs.find((e) => e.fn === "faulty" && e.level === "error" && e.message.includes("on purpose"));
    expect(logged?.message).toMatch(/src\/faulty\.ts:\d+:\d+/);
    expect((await emu.fetch("/ok")).status).toBe(200);
  });

  it("crash: a rejection gives 500 and the function keeps serving", async () => {
    const response = await emu.fetch("/reject");
    expect(response.status).toBe(500);
    expect(await response.text()).toContain("handler rejected on purpose");
    expect(await (await emu.fetch("/ok")).text()).toBe("ok");
  });

  it("crash: process.exit gives 500, other functions keep serving, and the next request gets a fresh worker", async () => {
    const response = await emu.fetch("/exit");
    expect(response.status).toBe(500);
    expect(await response.text()).toMatch(/exited \(code 3\)/);
    expect((await emu.fetch("/hello/after")).status).toBe(200);
    expect(await (await emu.fetch("/ok")).text()).toBe("ok");
  });

  it("timeout: a run past the function's timeout is cut off with 504", async () => {
    const started = performance.now();
    const response = await emu.fetch("/slow");
    const elapsed = performance.now() - started;
    expect(response.status).toBe(504);
    expect(await response.text()).toMatch(/timed out after 1s/);
    expect(elapsed).toBeGreaterThanOrEqual(990);
    expect(elapsed).toBeLessThan(3_000);
  });

  it("timeout: a run that blocks its thread is cut off and the function is recycled", async () => {
    expect((await emu.fetch("/spin")).status).toBe(504);
    expect(await (await emu.fetch("/ok")).text()).toBe("ok");
    expect(
      emu.logs.some(
        (e) => e.fn === "faulty" && /timed out after 1s; the run was cut off and the function recycled/.test(e.message),
      ),
    ).toBe(true);
  });

  it("concurrency: requests past the limit wait in a bounded queue, then get 503 with Retry-After", async () => {
    // concurrency 1: one runs, four wait, the rest are refused.
    const responses = await Promise.all(Array.from({ length: 7 }, () => emu.fetch("/limited")));
    const statuses = responses.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 200, 200, 503, 503]);
    const refused = responses.find((r) => r.status === 503)!;
    expect(refused.headers.get("retry-after")).toBe("1");
    expect(await refused.text()).toMatch(/concurrency limit \(1 running, 4 waiting\)/);
  });

  it("link: a function calls a linked function's fetch directly", async () => {
    const response = await emu.fetch("/call/linus");
    expect(response.status).toBe(200);
    expect(await response.text()).toMatch(/^hello said: \{"message":"hello linus"/);
  });

  it("invoke: calls a function by name, whether or not it has routes", async () => {
    const response = await emu.invoke("hello", "/hello/direct");
    expect(await response.json()).toMatchObject({ message: "hello direct" });
    const unknown = await emu.invoke("nope", "/");
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({
      error: { code: "NIMBUS_EMULATOR_UNKNOWN_FUNCTION", message: expect.stringMatching(/has no function "nope"/) },
    });
  });
});

describe("createEmulator", () => {
  it("state: without a state folder, a temporary one is used and removed on close", async () => {
    const { existsSync } = await import("node:fs");
    const copy = await copyFixture("emulator");
    try {
      const other = await createEmulator({ root: copy.dir, watch: false });
      expect(other.state).not.toBe(emu.state);
      expect(existsSync(other.state)).toBe(true);
      await other.close();
      expect(existsSync(other.state)).toBe(false);
    } finally {
      await copy.remove();
    }
  });

  it("port: a port in use is a clear error", async () => {
    const copy = await copyFixture("emulator");
    try {
      const port = Number(new URL(emu.url).port);
      await expect(createEmulator({ root: copy.dir, watch: false, port })).rejects.toMatchObject({
        code: "NIMBUS_EMULATOR_PORT_IN_USE",
        message: expect.stringMatching(new RegExp(`Port ${port} on 127.0.0.1 is in use.*--port`)),
      });
    } finally {
      await copy.remove();
    }
  });
});

/** A request with a Host header of our choosing, which fetch does not send. */
function withHost(
  url: string,
  host: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } = {},
) {
  return new Promise<{ status: number; headers: Record<string, unknown>; text: string }>((resolve, reject) => {
    const sent = httpRequest(url, { method: init.method ?? "GET", headers: { ...init.headers, host } }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        text += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode!, headers: response.headers, text }));
    });
    sent.on("error", reject);
    sent.end(init.body);
  });
}

describe("emulator: only its own hosts, and a control API only its own clients can drive", () => {
  it("host: a request for a name the emulator does not serve gets 403 naming the name and --allowed-hosts, on every endpoint", async () => {
    const port = new URL(emu.url).port;
    const route = await withHost(`${emu.url}/hello/ada`, `evil.example:${port}`);
    expect(route.status).toBe(403);
    expect(JSON.parse(route.text)).toEqual({
      error: {
        code: "NIMBUS_EMULATOR_HOST",
        message: expect.stringMatching(/host "evil\.example".*--allowed-hosts evil\.example/),
      },
    });
    const headers = { "x-nimbus-token": emu.controlToken, "content-type": "text/plain" };
    const control = await withHost(`${emu.url}/_nimbus/queues`, `evil.example:${port}`, { headers });
    expect(control.status).toBe(403);
    expect(JSON.parse(control.text).error.code).toBe("NIMBUS_EMULATOR_HOST");
    const s3 = await withHost(`${emu.s3.endpoint}/uploads/x`, "evil.example", { method: "PUT", body: "x" });
    expect(s3.status).toBe(403);
    expect(s3.text).toMatch(
      /<Code>AccessDenied<\/Code><Message>Blocked a request for host &#34;evil\.example&#34;.*--allowed-hosts/,
    );
  });

  it("host: localhost, its subdomains and IP addresses are served", async () => {
    const port = new URL(emu.url).port;
    for (const host of [`localhost:${port}`, `app.localhost:${port}`, `127.0.0.1:${port}`]) {
      const response = await withHost(`${emu.url}/hello/ada`, host);
      expect(response.status, host).toBe(200);
    }
  });

  it("host: allowedHosts adds names (a leading dot: and every name under it); true serves any", async () => {
    const copy = await copyFixture("emulator");
    try {
      await using listed = await createEmulator({
        root: copy.dir,
        watch: false,
        allowedHosts: ["app.test", ".dev.example"],
      });
      expect((await withHost(`${listed.url}/hello/ada`, "app.test")).status).toBe(200);
      expect((await withHost(`${listed.url}/hello/ada`, "a.dev.example")).status).toBe(200);
      expect((await withHost(`${listed.url}/hello/ada`, "evil.example")).status).toBe(403);
      await listed.close();
      await using any = await createEmulator({ root: copy.dir, watch: false, allowedHosts: true });
      expect((await withHost(`${any.url}/hello/ada`, "evil.example")).status).toBe(200);
    } finally {
      await copy.remove();
    }
  });

  it("control: a request without this run's token, or with another, gets 401; fetch and invoke send it", async () => {
    const missing = await fetch(`${emu.url}/_nimbus/queues`);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual({
      error: {
        code: "NIMBUS_CONTROL_TOKEN",
        message: expect.stringContaining(
          `x-nimbus-token header. The nimbus CLI and createEmulator send it; other clients read "token" from ${join(emu.state, "emulator.json")}`,
        ),
      },
    });
    const wrong = await fetch(`${emu.url}/_nimbus/queues`, { headers: { "x-nimbus-token": "guess" } });
    expect(wrong.status).toBe(401);
    expect((await emu.fetch("/_nimbus/health")).status).toBe(200);
    expect((await emu.invoke("hello", "/hello/direct")).status).toBe(200);
  });

  it("control: a browser request from another origin gets 403, token or not, and no answer carries CORS headers", async () => {
    const foreign = await emu.fetch("/_nimbus/health", { headers: { origin: "http://127.0.0.1:1" } });
    expect(foreign.status).toBe(403);
    expect(((await foreign.json()) as { error: { code: string } }).error.code).toBe("NIMBUS_CONTROL_ORIGIN");
    const preflight = await emu.fetch("/_nimbus/health", {
      method: "OPTIONS",
      headers: { origin: "http://evil.example", "access-control-request-method": "POST" },
    });
    expect(preflight.status).toBe(403);
    const own = await emu.fetch("/_nimbus/health", { headers: { origin: new URL(emu.url).origin } });
    expect(own.status).toBe(200);
    for (const response of [foreign, preflight, own]) {
      expect([...response.headers.keys()].filter((name) => name.startsWith("access-control-"))).toEqual([]);
    }
  });

  it("state: emulator.json holds the URL and the run's token, readable by its owner only, and goes on close", async () => {
    const { existsSync } = await import("node:fs");
    const copy = await copyFixture("emulator");
    try {
      const other = await createEmulator({ root: copy.dir, watch: false, state: join(copy.dir, ".nimbus") });
      const path = join(other.state, "emulator.json");
      const info = JSON.parse(await readFile(path, "utf8")) as Record<string, unknown>;
      expect(info).toMatchObject({
        url: other.url,
        s3: other.s3.endpoint,
        app: "emu",
        pid: process.pid,
        token: other.controlToken,
      });
      expect(other.controlToken).not.toBe(emu.controlToken);
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      await other.close();
      expect(existsSync(path)).toBe(false);
    } finally {
      await copy.remove();
    }
  });
});
