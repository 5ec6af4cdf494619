// A real browser (Debian's Chromium, headless, through playwright-core) on pages of other
// origins tries to drive a running `nimbus dev`: with simple cross-site requests (a
// text/plain POST needs no preflight) and by DNS rebinding (a name of the attacker's that
// resolves to 127.0.0.1; Chromium's --host-resolver-rules stands in for the attacker's DNS).
// None may have an effect, while the CLI and the app's own page keep working.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";
import { runCliAsync } from "./support/cli.ts";
import { startDev } from "./support/dev.ts";

/** Debian's Chromium, or undefined; outside CI a missing one skips the suite, under CI=true it fails. */
function requireChromium(): string | undefined {
  const path = "/usr/bin/chromium";
  if (existsSync(path) && spawnSync(path, ["--version"], { timeout: 30_000 }).status === 0) return path;
  const reason = 'chromium is not installed (Debian package "chromium"; .ci/run installs it)';
  if (process.env.CI === "true") throw new Error(`CI=true and ${reason}`);
  console.warn(`skipping: ${reason}`);
  return undefined;
}

const chromiumPath = requireChromium();

/** One request an attacking page makes. */
interface Attack {
  name: string;
  url: string;
  method: string;
  body?: string;
  /** `no-cors`: a simple cross-site request, sent without asking, whose answer the page cannot read. */
  mode: "no-cors" | "cors" | "same-origin";
}

/** What the page saw: the status (0 for an answer it may not read, -1 when fetch failed) and body. */
interface Outcome {
  name: string;
  status: number;
  text: string;
}

// Runs inside the page, so it is plain JavaScript (a compiled function could carry helpers the page lacks).
const attackScript = `async (attacks) => {
  const outcomes = [];
  for (const attack of attacks) {
    try {
      const headers = attack.body === undefined ? {} : { "content-type": "text/plain" };
      const response = await fetch(attack.url, { method: attack.method, body: attack.body, headers, mode: attack.mode });
      outcomes.push({ name: attack.name, status: response.status, text: response.type === "opaque" ? "" : await response.text() });
    } catch (error) {
      outcomes.push({ name: attack.name, status: -1, text: String(error) });
    }
  }
  return outcomes;
}`;

/** The control API's endpoints that change state, and reads a page must not make, all against `base`. */
function controlAttacks(base: string, mode: Attack["mode"]): Attack[] {
  return [
    { name: "send", url: `${base}/_nimbus/queues/jobs/messages`, method: "POST", body: '{"from":"attacker"}', mode },
    { name: "redrive", url: `${base}/_nimbus/queues/failing-dlq/redrive`, method: "POST", body: "", mode },
    {
      name: "put",
      url: `${base}/_nimbus/buses/events/events`,
      method: "POST",
      body: '{"entries":[{"source":"attacker","detailType":"Attack","detail":{}}]}',
      mode,
    },
    { name: "trigger", url: `${base}/_nimbus/schedules/tick/trigger`, method: "POST", body: "", mode },
    { name: "invoke", url: `${base}/_nimbus/invoke/site/notes`, method: "POST", body: "attacker via invoke", mode },
    { name: "graph", url: `${base}/_nimbus/graph`, method: "GET", mode },
  ];
}

const s3Put = (base: string, mode: Attack["mode"]): Attack => ({
  name: "s3 put",
  url: `${base}/store/s3-attack`,
  method: "PUT",
  body: "attacker via S3",
  mode,
});

/** The page's origin with the port of `url` and the name `host`. */
const at = (url: string, host: string) => `http://${host}:${new URL(url).port}`;

describe.skipIf(!chromiumPath)("browser attacks on nimbus dev", () => {
  let dev: Awaited<ReturnType<typeof startDev>>;
  let copy: { dir: string; remove: () => Promise<void> };
  let browser: Browser;
  let attacker: Server;
  let attackerUrl: string;
  let s3Url: string;

  beforeAll(async () => {
    copy = await copyFixture("browser");
    dev = await startDev(copy.dir);
    s3Url = dev.ready.s3;
    // The attacker's own server: a blank page on another port of 127.0.0.1.
    attacker = createServer((_, response) => {
      response.writeHead(200, { "content-type": "text/html" });
      response.end("<!doctype html><title>attacker</title>");
    });
    await new Promise<void>((resolve) => attacker.listen(0, "127.0.0.1", resolve));
    attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: chromiumPath,
      headless: true,
      args: [
        "--host-resolver-rules=MAP evil.example 127.0.0.1",
        // Chromium's own guard (Local Network Access) would stop a page of a public name from
        // reaching loopback; other browsers have none, and the emulator must not rely on it.
        "--disable-features=LocalNetworkAccessChecks",
      ],
    });
    // A message that dies at once, so failing-dlq holds one for a redrive to move.
    const sent = await runCliAsync(["send", copy.dir, "failing", '{"id":"dead"}']);
    expect(sent.status, sent.stderr).toBe(0);
    for (const deadline = Date.now() + 10_000; ; ) {
      const stats = (await (await dev.control("/queues")).json()) as Record<string, { depth: number }>;
      if (stats["failing-dlq"]?.depth === 1) break;
      if (Date.now() > deadline) throw new Error(`the message did not die: ${JSON.stringify(stats)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise((resolve) => attacker?.close(resolve));
    dev?.child.kill("SIGKILL");
    await copy?.remove();
  });

  /** Opens `url` in a fresh page (served by `serve` when the browser must not fetch it) and runs the attacks there. */
  async function attackFrom(url: string, attacks: Attack[], serve = false): Promise<Outcome[]> {
    const page: Page = await browser.newPage();
    try {
      if (serve) {
        // The attacker's page as its DNS first answered: from the attacker's server, under
        // the emulator's port. Every later request goes to the rebound address, 127.0.0.1.
        await page.route(url, (route) =>
          route.fulfill({ contentType: "text/html", body: "<!doctype html><title>attacker</title>" }),
        );
      }
      await page.goto(url);
      return (await page.evaluate(`(${attackScript})(${JSON.stringify(attacks)})`)) as Outcome[];
    } finally {
      await page.close();
    }
  }

  it("cross-site: a page of another origin on 127.0.0.1 drives nothing through the control API, and cannot PUT to the S3 endpoint", async () => {
    const emulator = dev.ready.url;
    const outcomes = await attackFrom(`${attackerUrl}/`, [
      ...controlAttacks(emulator, "no-cors"),
      s3Put(s3Url, "cors"),
    ]);
    // The simple requests are sent (the answers stay opaque to the page); the PUT's preflight is refused.
    expect(outcomes.filter((o) => o.name !== "s3 put").map((o) => o.status)).toEqual([0, 0, 0, 0, 0, 0]);
    expect(outcomes.find((o) => o.name === "s3 put")?.status).toBe(-1);
    // Control: the same page's simple POST to an app route does reach it, as it would a
    // deployed app's, so the requests above were delivered and refused by the emulator.
    const [route] = await attackFrom(`${attackerUrl}/`, [
      { name: "route", url: `${emulator}/notes`, method: "POST", body: "cross-site route call", mode: "no-cors" },
    ]);
    expect(route?.status).toBe(0);
    expect(await notes()).toContain("cross-site route call");
  });

  it("rebinding: a page under a foreign name cannot reach the routes, the control API or the S3 endpoint, even same-origin, and reads only the 403", async () => {
    // From the attacker's server under its own name, cross-origin to the emulator's port.
    const crossOrigin = await attackFrom(`${at(attackerUrl, "evil.example")}/`, [
      ...controlAttacks(at(dev.ready.url, "evil.example"), "no-cors"),
      {
        name: "route",
        url: `${at(dev.ready.url, "evil.example")}/notes`,
        method: "POST",
        body: "rebound",
        mode: "no-cors",
      },
    ]);
    expect(crossOrigin.every((o) => o.status === 0)).toBe(true);

    // Same origin as the emulator under the foreign name: the page may read every answer.
    const base = at(dev.ready.url, "evil.example");
    const sameOrigin = await attackFrom(
      `${base}/attack.html`,
      [
        ...controlAttacks(base, "same-origin"),
        { name: "route", url: `${base}/notes`, method: "POST", body: "rebound", mode: "same-origin" },
        { name: "read", url: `${base}/keys`, method: "GET", mode: "same-origin" },
      ],
      true,
    );
    for (const outcome of sameOrigin) {
      expect(outcome.status, `${outcome.name}: ${outcome.text}`).toBe(403);
      expect(JSON.parse(outcome.text), outcome.name).toEqual({
        error: {
          code: "NIMBUS_EMULATOR_HOST",
          message: expect.stringContaining('Blocked a request for host "evil.example"'),
        },
      });
    }
    const s3Base = at(s3Url, "evil.example");
    const [s3] = await attackFrom(`${s3Base}/attack.html`, [s3Put(s3Base, "same-origin")], true);
    expect(s3?.status).toBe(403);
    expect(s3?.text).toMatch(/<Code>AccessDenied<\/Code><Message>Blocked a request for host &#34;evil\.example&#34;/);
  });

  it("afterwards: the CLI still drives the emulator and shows that nothing was queued, put, triggered, redriven or stored", async () => {
    const queues = await runCliAsync(["queues", copy.dir]);
    expect(queues.stderr).toBe("");
    for (const [queue, depth] of [
      ["jobs", 0],
      ["inbox", 0],
      ["ticks", 0],
      ["failing", 0],
      ["failing-dlq", 1],
    ] as const) {
      expect(queues.stdout).toMatch(new RegExp(`\\n${queue}\\s+${depth}\\s+0\\s+0\\s+\\d+\\n`));
    }
    const keys = (await (await fetch(`${dev.ready.url}/keys`)).json()) as string[];
    // The one delivery of the dead message (a redrive would have made a second), and the
    // control's note: nothing from an invocation, a rebound route call or an S3 PUT.
    expect(keys.filter((key) => key.startsWith("failed/"))).toHaveLength(1);
    expect(keys).not.toContain("s3-attack");
    expect(await notes()).toEqual(["cross-site route call"]);

    // The CLI's own commands still work.
    const sent = await runCliAsync(["send", copy.dir, "jobs", '{"from":"cli"}']);
    expect(sent.status, sent.stderr).toBe(0);
    const after = await runCliAsync(["queues", copy.dir]);
    expect(after.stdout).toMatch(/\njobs\s+1\s+0\s+0\s+0\n/);
  });

  it("own page: the app's page on 127.0.0.1 and on localhost calls its own routes", async () => {
    for (const host of ["127.0.0.1", "localhost"]) {
      const page = await browser.newPage();
      try {
        await page.goto(`${at(dev.ready.url, host)}/`);
        const out = page.locator("#out");
        await out.filter({ hasText: /^\{/ }).waitFor();
        const shown = JSON.parse((await out.textContent()) ?? "") as { status: number; keys: string[] };
        expect(shown.status, host).toBe(201);
        expect(shown.keys.filter((key) => key.startsWith("notes/")).length, host).toBeGreaterThan(0);
      } finally {
        await page.close();
      }
    }
    expect((await notes()).filter((note) => note === "from the app's page")).toHaveLength(2);
  });

  /** The bodies of the notes the app's route stored. */
  async function notes(): Promise<string[]> {
    return (await (await fetch(`${dev.ready.url}/notes`)).json()) as string[];
  }
});
