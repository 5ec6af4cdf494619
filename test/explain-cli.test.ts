// `nimbus explain` (offline: the app's rules against an event file), and `nimbus emit` and
// `nimbus trigger` with the control endpoints they call, against test/fixtures/events.
import { spawnSync } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type CliResult, emulatorEnv, repoRoot, runCli, runCliAsync } from "./support/cli.ts";

const app = "test/fixtures/events";

let files: string;

beforeAll(async () => {
  files = await mkdtemp(join(tmpdir(), "nimbus-explain-"));
});

afterAll(async () => {
  await rm(files, { recursive: true, force: true });
});

/** Writes `content` (JSON-encoded unless a string) to a file of its own; returns its path. */
async function file(name: string, content: unknown): Promise<string> {
  const path = join(files, name);
  await writeFile(path, typeof content === "string" ? content : JSON.stringify(content, null, 2));
  return path;
}

/** `runCli` with `input` piped to the CLI's stdin. */
function runCliWithInput(args: readonly string[], input: string): CliResult {
  const result = spawnSync(
    process.execPath,
    [
      "--conditions=nimbus-source",
      "--disable-warning=ExperimentalWarning",
      join(repoRoot, "packages/cli/src/bin.ts"),
      ...args,
    ],
    { cwd: repoRoot, encoding: "utf8", input, timeout: 60_000 },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** An event `orders/paid` matches; tests spoil one field at a time. */
const paidEvent = (detail: Record<string, unknown> = {}) => ({
  version: "0",
  id: "e-1",
  "detail-type": "OrderPaid",
  source: "shop.api",
  account: "000000000000",
  time: "2026-01-01T00:00:00Z",
  region: "local",
  resources: [],
  detail: { total: 25, currency: "EUR", customer: { id: "c-7" }, ...detail },
});

/** The first line `explain` prints for a mismatch, after checking it exits 1 and prints no error. */
async function mismatch(rule: string, event: unknown): Promise<string> {
  const result = runCli(["explain", app, rule, await file(`${rule.replace("/", "-")}.json`, event)]);
  expect(result.stderr).toBe("");
  expect(result.status).toBe(1);
  return result.stdout.split("\n")[0]!;
}

describe("nimbus explain", () => {
  it("explain: says the rule matches, and exits 0", async () => {
    const result = runCli(["explain", app, "orders/paid", await file("paid.json", paidEvent())]);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe("✔ orders/paid matches the event\n");
    expect(result.status).toBe(0);
  });

  it("explain: names the path, the operator with what it wants, and the reason; shows the pattern; exits 1", async () => {
    const result = runCli(["explain", app, "orders/paid", await file("zero.json", paidEvent({ total: 0 }))]);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(
      [
        '✖ orders/paid does not match: at detail.total, numeric [">", 0, "<=", 10000]: 0 is not > 0',
        "  pattern of orders/paid:",
        "  {",
        '    "source": ["shop.api"],',
        '    "detail-type": ["OrderPaid"],',
        '    "detail": {',
        '      "total": [{ "numeric": [">", 0, "<=", 10000] }],',
        '      "currency": [{ "anything-but": ["XXX", "TEST"] }],',
        '      "customer": {',
        '        "id": [{ "prefix": "c-" }]',
        "      }",
        "    }",
        "  }",
        "",
      ].join("\n"),
    );
  });

  it("explain: says which field is missing", async () => {
    expect(await mismatch("orders/paid", paidEvent({ customer: {} }))).toBe(
      '✖ orders/paid does not match: at detail.customer.id, prefix "c-": field is missing',
    );
  });

  it("explain: shows a wrong value next to the one wanted", async () => {
    expect(await mismatch("orders/paid", { ...paidEvent(), "detail-type": "OrderPlaced" })).toBe(
      '✖ orders/paid does not match: at detail-type, equals "OrderPaid": "OrderPlaced" is not "OrderPaid"',
    );
  });

  it("explain: explains a numeric range's upper bound", async () => {
    expect(await mismatch("orders/paid", paidEvent({ total: 20_000 }))).toBe(
      '✖ orders/paid does not match: at detail.total, numeric [">", 0, "<=", 10000]: 20000 is not <= 10000',
    );
  });

  it("explain: explains anything-but", async () => {
    expect(await mismatch("orders/paid", paidEvent({ currency: "TEST" }))).toBe(
      '✖ orders/paid does not match: at detail.currency, anything-but ["XXX", "TEST"]: "TEST" is excluded',
    );
  });

  it("explain: explains prefix", async () => {
    expect(await mismatch("orders/paid", paidEvent({ customer: { id: "x-7" } }))).toBe(
      '✖ orders/paid does not match: at detail.customer.id, prefix "c-": "x-7" does not start with "c-"',
    );
    expect(await mismatch("billing/refunds", { ...paidEvent(), "detail-type": "Payment" })).toBe(
      '✖ billing/refunds does not match: at detail-type, prefix "Refund": "Payment" does not start with "Refund"',
    );
  });

  it("explain: finds a field inside $or, reporting the first branch", async () => {
    expect(await mismatch("orders/flagged", paidEvent({ country: "DE" }))).toBe(
      '✖ orders/flagged does not match: at detail.total, numeric [">=", 1000]: 25 is not >= 1000 (no $or branch matched; this is the first branch)',
    );
    const result = runCli(["explain", app, "orders/flagged", await file("nz.json", paidEvent({ country: "NZ" }))]);
    expect(result.stdout).toBe("✔ orders/flagged matches the event\n");
    expect(result.status).toBe(0);
  });

  it("explain: notes an event given without its envelope", async () => {
    const result = runCli(["explain", app, "orders/paid", await file("bare.json", { total: 5 })]);
    expect(result.status).toBe(1);
    expect(result.stdout).toContain(
      '  note: the event has none of "source", "detail-type", "detail"; pass the whole event as rules see it, not only its detail.',
    );
  });

  it("explain: reads the event from stdin for -", () => {
    const result = runCliWithInput(["explain", app, "orders/paid", "-"], JSON.stringify(paidEvent()));
    expect(result.stdout).toBe("✔ orders/paid matches the event\n");
    expect(result.status).toBe(0);
    const broken = runCliWithInput(["explain", app, "orders/paid", "-"], "{");
    expect(broken.stderr).toMatch(/^✖ stdin is not valid JSON: /);
    expect(broken.status).toBe(2);
  });

  it("explain: lists the bus's rules for an unknown rule, every rule for an unknown bus; exits 2", async () => {
    const event = await file("any.json", paidEvent());
    const unknownRule = runCli(["explain", app, "orders/refunded", event]);
    expect(unknownRule.stderr).toBe(
      '✖ Bus "orders" of app "events" has no rule "refunded" (its rules: orders/flagged, orders/paid).\n',
    );
    expect(unknownRule.status).toBe(2);
    expect(runCli(["explain", app, "shipping/late", event]).stderr).toBe(
      '✖ App "events" has no rule "shipping/late" (its rules: billing/refunds, orders/flagged, orders/paid). Name a rule as <bus>/<rule>.\n',
    );
    expect(runCli(["explain", app, "orders", event]).stderr).toBe(
      '✖ "orders" is a bus; name one of its rules as <bus>/<rule>: orders/flagged, orders/paid.\n',
    );
  });

  it("explain: says where an event file is not JSON, and when there is no such file", async () => {
    const bad = runCli(["explain", app, "orders/paid", await file("bad.json", '{\n  "source": "shop.api",\n}')]);
    expect(bad.stderr).toMatch(/^✖ .*bad\.json is not valid JSON: .*line 3 column 1/);
    expect(bad.status).toBe(2);
    const missing = runCli(["explain", app, "orders/paid", join(files, "none.json")]);
    expect(missing.stderr).toBe(
      `✖ No event file at ${join(files, "none.json")}. Pass the path of a JSON file holding the event, or - to read it from stdin.\n`,
    );
    expect(missing.status).toBe(2);
  });

  it("explain: refuses an event that is not an object", async () => {
    const result = runCli(["explain", app, "orders/paid", await file("list.json", [paidEvent()])]);
    expect(result.stderr).toMatch(/list\.json holds an array; it must hold one event object, such as \{ "source"/);
    expect(result.status).toBe(2);
  });

  it("explain: shows a put entry written as an event", async () => {
    const entry = { source: "shop.api", detailType: "OrderPaid", detail: { total: 5 }, time: "2026-01-01T00:00:00Z" };
    const result = runCli(["explain", app, "orders/paid", await file("entry.json", entry)]);
    expect(result.status).toBe(2);
    const [first, ...rest] = result.stderr.trimEnd().split("\n");
    expect(first).toMatch(
      /entry\.json holds a put entry \(it has "detailType"\), not an event\. .*with "detail-type"\. Write it as:$/,
    );
    expect(JSON.parse(rest.join("\n"))).toMatchObject({
      version: "0",
      "detail-type": "OrderPaid",
      source: "shop.api",
      time: "2026-01-01T00:00:00Z",
      resources: [],
      detail: { total: 5 },
    });
  });

  it("explain: says an argument is missing when the first of two is the app folder", () => {
    const result = runCli(["explain", app, "orders/paid"]);
    expect(result.stderr).toMatch(/is a folder, so the rule or the event file is missing/);
    expect(result.status).toBe(2);
  });
});

describe("nimbus emit: input checked before calling the emulator", () => {
  // Nothing listens on port 9: these must fail before any request.
  const url = "http://127.0.0.1:9";

  it("emit: says the entries must be JSON", () => {
    const result = runCli(["emit", app, "orders", "{source:", "--url", url]);
    expect(result.stderr).toMatch(/^✖ The entries must be JSON, or @file\.json for a file/);
    expect(result.status).toBe(1);
  });

  it("emit: takes 1 to 10 entries", () => {
    const entry = { source: "shop.api", detailType: "OrderPaid", detail: {} };
    const result = runCli(["emit", app, "orders", JSON.stringify(Array(11).fill(entry)), "--url", url]);
    expect(result.stderr).toBe(
      "✖ The entries must be one entry or a list of 1 to 10 (as EventBridge's PutEvents); found 11. Split them over several emits.\n",
    );
    expect(runCli(["emit", app, "orders", "[]", "--url", url]).stderr).toMatch(/found 0\.\n$/);
  });

  it("emit: says when an entry is written as an event", async () => {
    const path = await file("events.json", [{ source: "a", detailType: "A", detail: {} }, paidEvent()]);
    const result = runCli(["emit", app, "orders", `@${path}`, "--url", url]);
    expect(result.stderr).toMatch(
      /^✖ Entry 2 of 2 in .*events\.json is an event \(it has "detail-type"\), not a put entry; the bus makes the event\. Write it as \{ "source"/,
    );
  });

  it("emit: names a missing @file", () => {
    const result = runCli(["emit", app, "orders", `@${join(files, "none.json")}`, "--url", url]);
    expect(result.stderr).toMatch(/^✖ No entries file at .*none\.json\. After @/);
  });
});

describe("nimbus emit and nimbus trigger on a running emulator", () => {
  let emu: Emulator;

  beforeAll(async () => {
    emu = await createEmulator({ root: join(repoRoot, app), watch: false, clock: "manual" });
  });

  afterAll(async () => {
    await emu?.close();
  });

  afterEach(async () => {
    await emu.idle();
    await emu.reset();
  });

  const depth = (queue: string) => emu.queue(queue).stats().depth;

  it("emit: puts an entry on the bus and prints its id; the matching rule fills its queue", async () => {
    const entry = {
      source: "shop.api",
      detailType: "OrderPaid",
      detail: { total: 25, currency: "EUR", customer: { id: "c-1" } },
    };
    const result = await runCliAsync(["emit", app, "orders", JSON.stringify(entry), "--url", emu.url], {
      env: emulatorEnv(emu),
    });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^put \S+ on orders\n$/);
    await emu.idle();
    expect(depth("paid")).toBe(1);
    expect(depth("audit")).toBe(0);
  });

  it("emit: puts a list of entries from @file, one line each", async () => {
    const detail = { total: 5000, currency: "EUR", customer: { id: "c-2" } };
    const path = await file("two.json", [
      { source: "shop.api", detailType: "OrderPaid", detail },
      { source: "shop.api", detailType: "OrderPlaced", detail: { total: 1 } },
    ]);
    const result = await runCliAsync(["emit", app, "orders", `@${path}`, "--url", emu.url], { env: emulatorEnv(emu) });
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^put \S+ on orders\nput \S+ on orders\n$/);
    await emu.idle();
    // The first matches both rules (paid and, at 5000, flagged); the second neither.
    expect(depth("paid")).toBe(1);
    expect(depth("audit")).toBe(1);
  });

  it("emit: prints the emulator's error for an unknown bus, and exits 1", async () => {
    const entry = { source: "shop.api", detailType: "OrderPaid", detail: {} };
    const result = await runCliAsync(["emit", app, "shipping", JSON.stringify(entry), "--url", emu.url], {
      env: emulatorEnv(emu),
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^✖ .*no bus "shipping"/);
  });

  it("trigger: fires a schedule now and prints the scheduled time; its queue gets the tick", async () => {
    const result = await runCliAsync(["trigger", app, "nightly", "--url", emu.url], { env: emulatorEnv(emu) });
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    // The clock is manual: "now" stands still.
    expect(result.stdout).toBe(`triggered nightly (scheduledTime ${new Date(emu.clock.now()).toISOString()})\n`);
    await emu.idle();
    expect(depth("ticks")).toBe(1);
  });

  it("trigger: prints the emulator's error for an unknown schedule, and exits 1", async () => {
    const result = await runCliAsync(["trigger", app, "hourly", "--url", emu.url], { env: emulatorEnv(emu) });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^✖ .*no schedule "hourly"/);
  });

  it("control: answers 404 with { error } for an unknown bus or schedule", async () => {
    const put = await emu.fetch("/_nimbus/buses/shipping/events", {
      method: "POST",
      body: JSON.stringify({ entries: [{ source: "a", detailType: "A", detail: {} }] }),
    });
    expect(put.status).toBe(404);
    expect(await put.json()).toMatchObject({ error: { code: expect.stringMatching(/^NIMBUS_/) } });
    const trigger = await emu.fetch("/_nimbus/schedules/hourly/trigger", { method: "POST" });
    expect(trigger.status).toBe(404);
  });

  it("control: refuses a bus put whose body is not { entries: [1 to 10 entries] }", async () => {
    const post = (body: string) => emu.fetch("/_nimbus/buses/orders/events", { method: "POST", body });
    for (const [body, found] of [
      ["{", /must be JSON/],
      ["[]", /found an array/],
      ["{}", /found no "entries"/],
      ['{"entries":{}}', /found a non-list "entries"/],
      ['{"entries":[]}', /found 0\./],
      [JSON.stringify({ entries: Array(11).fill({}) }), /found 11\./],
    ] as const) {
      const response = await post(body);
      expect(response.status).toBe(400);
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      expect(error.code).toBe("NIMBUS_CONTROL_BODY");
      expect(error.message).toMatch(found);
    }
  });
});
