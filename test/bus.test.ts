// The event-bus statements of docs/semantics.md that only the emulator can show: what its
// log says. Everything else about buses runs on every target in
// test/conformance/bus.test.ts. Driven through the emulator with a manual clock, against
// test/fixtures/bus; titles name the statement they check (§buses/<section>/<n>).
import type { Emulator } from "@nimbus/emulator";
import type { BusEntry } from "@nimbus/runtime";
import { describe, expect, it } from "vitest";
import { emulatorEnv, runCliAsync } from "./support/cli.ts";
import { emulatorSuite, noMessages, uniqueNames } from "./support/suite.ts";

let emu: Emulator;
emulatorSuite("bus", {
  started: (started) => {
    emu = started;
  },
});

/** A name no other test uses. */
const uid = uniqueNames();

const zero = noMessages;

/** An `OrderPaid` entry from `shop`: `orders/paid` delivers it to `flaky` and `recorder`. */
const order = (key: string, detail: { total?: number; fail?: string } = {}): BusEntry => ({
  source: "shop",
  detailType: "OrderPaid",
  detail: { key, ...detail },
});

/** An entry of `detailType` from `test`, for the rules that match on detail-type alone. */
const entry = (detailType: string, detail: Record<string, unknown> = {}): BusEntry => ({
  source: "test",
  detailType,
  detail,
});

/** The log entries written since `mark` (an earlier `emu.logs.length`) whose message matches. */
const loggedSince = (mark: number, pattern: RegExp) => emu.logs.slice(mark).filter((e) => pattern.test(e.message));

/** The error lines written since `mark` that mention `text`. */
const errorsSince = (mark: number, text: string) =>
  emu.logs
    .slice(mark)
    .filter((e) => e.level === "error" && e.message.includes(text))
    .map((e) => e.message);

describe("bus: the emulator's log", () => {
  it("put: the log has a line per event naming the rules it matched, or no rule (§buses/matching/4)", async () => {
    const mark = emu.logs.length;
    const { ids } = await emu
      .bus("orders")
      .put([{ source: "nobody", detailType: "Nothing", detail: {} }, order(uid("both"), { total: 100 })]);
    await emu.idle();
    const lines = (id: string) => loggedSince(mark, new RegExp(`^bus orders: event ${id} `)).map((e) => e.message);
    expect(lines(ids[0]!)).toEqual([`bus orders: event ${ids[0]} (Nothing from nobody) matched no rule`]);
    const [matched] = lines(ids[1]!);
    expect(matched).toMatch(new RegExp(`^bus orders: event ${ids[1]} \\(OrderPaid from shop\\) matched `));
    expect(matched!.split(" matched ")[1]!.split(", ").sort()).toEqual(["orders/big", "orders/paid"]);

    // An event a bus forwards gets its line on the bus it reaches, saying where it came from.
    const forwarded = (await emu.bus("front").put([entry("Forwarded")])).ids[0]!;
    await emu.idle();
    expect(loggedSince(mark, /^bus back: /).map((e) => e.message)).toEqual([
      `bus back: event ${forwarded} (Forwarded from test) (forwarded from front) matched back/all`,
    ]);
  });

  it("rule → bus: a rule that would send an event back to a bus it came through logs it (§buses/delivery/4)", async () => {
    const mark = emu.logs.length;
    const { ids } = await emu.bus("ping").put([entry("Round")]);
    const id = ids[0]!;
    await emu.idle();
    expect(loggedSince(mark, new RegExp(`event ${id} came back through ping → pong → ping`))).toHaveLength(1);
    expect(loggedSince(mark, new RegExp(`^bus ping: event ${id} \\(`))).toHaveLength(1);
  });

  it("bus without deadLetter: a refused event's drop is logged as an error naming the event, the rule and the target (§buses/retries/4)", async () => {
    const mark = emu.logs.length;
    const { ids } = await emu.bus("plain").put([entry("Strict", { id: 1 })]);
    await emu.idle();
    expect(errorsSince(mark, ids[0]!)).toEqual([expect.stringMatching(/plain\/strict.*queue strict.*dropped/)]);
  });

  it("bus without deadLetter: an event dropped after its attempts is logged as an error naming the event, the rule and the target (§buses/retries/4)", async () => {
    const mark = emu.logs.length;
    const { ids } = await emu.bus("plain").put([order(uid("plain"), { fail: "throw" })]);
    await emu.idle();
    await emu.clock.advance("1m");
    const drops = emu.logs
      .slice(mark)
      .filter((e) => e.level === "error" && /dropped/.test(e.message))
      .map((e) => e.message);
    expect(drops).toEqual([expect.stringMatching(new RegExp(`(?=.*${ids[0]})(?=.*plain/flaky)(?=.*function flaky)`))]);
  });

  it("event handler: a delivery dropped 24 hours after its event was put is logged (§buses/retries/6)", async () => {
    const mark = emu.logs.length;
    await emu.bus("patient").put([order(uid("patient"), { fail: "throw" })]);
    await emu.idle();
    const dropped = () => loggedSince(mark, /patient\/flaky → function flaky.*dropped/);
    await emu.clock.advance(24 * 3_600_000 - 1);
    expect(dropped()).toEqual([]);
    await emu.clock.advance(1);
    expect(dropped()).toHaveLength(1);
  });
});

describe("bus: tools", () => {
  it("nimbus queues: lists deliveries still on their way, by rule and target, beside the queues", async () => {
    await emu.bus("orders").put([order(uid("listed"), { fail: "throw" })]);
    await emu.idle();
    const listed = await runCliAsync(["queues", "--url", emu.url], { env: emulatorEnv(emu) });
    expect(listed.status).toBe(0);
    expect(listed.stdout).toMatch(/\norders-dlq\s+0\s+0\s+0\s+0\n/);
    // flaky failed once and backs off; the recorder's delivery is done and not listed.
    expect(listed.stdout).toMatch(
      /\n\ndelivery \(rule or schedule → target\)\s+depth\s+in flight\s+delayed\s+dead-lettered\n/,
    );
    expect(listed.stdout).toMatch(/\norders\/paid → function flaky\s+0\s+0\s+1\s+0\n$/);
    expect(listed.stdout).not.toContain("function recorder");
    expect(emu.queue("orders-dlq").stats()).toEqual(zero);
  });
});
