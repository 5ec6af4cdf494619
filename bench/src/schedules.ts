/**
 * The schedule issue's figure: how late ticks reach their handler, on the real clock,
 * with the emulator idle and then under load. A schedule fires every second; its handler
 * records `Date.now() - scheduledTime`. The load is HTTP requests from this process, each
 * putting 10 events on a bus whose rule queues them for a consumer: routes, the bus,
 * SQLite and deliveries all busy at once, on the emulator's one main thread.
 */
import type { Emulator } from "@nimbus/emulator";
import { formatCount, withBenchEmulator } from "./support.ts";

interface Settings {
  /** Seconds of each phase. */
  seconds: number;
  /** Clients sending requests back to back during the loaded phase. */
  clients: number;
}
const full: Settings = { seconds: 20, clients: 16 };
const smoke: Settings = { seconds: 3, clients: 4 };

interface Phase {
  ticks: number[];
  /** Events put per second by the load. */
  events: number;
}

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))] ?? Number.NaN;
};

/** The lateness of every tick since `since`, in ms. */
async function ticksSince(emu: Emulator, since: number): Promise<number[]> {
  await emu.idle();
  const { objects } = await emu.bucket("results").list({ prefix: "ticks/" });
  const late: number[] = [];
  for (const { key } of objects) {
    if (Number(key.slice("ticks/".length)) < since) continue;
    late.push(Number(await (await emu.bucket("results").get(key))!.text()));
  }
  return late;
}

async function phase(emu: Emulator, settings: Settings, clients: number): Promise<Phase> {
  const since = Date.now();
  const until = since + settings.seconds * 1000;
  let requests = 0;
  const client = async () => {
    while (Date.now() < until) {
      const response = await emu.fetch("/load", { method: "POST" });
      if (!response.ok) throw new Error(`the load failed (${response.status}): ${await response.text()}`);
      await response.arrayBuffer();
      requests++;
    }
  };
  if (clients > 0) await Promise.all(Array.from({ length: clients }, client));
  else await new Promise((done) => setTimeout(done, until - Date.now()));
  return { ticks: await ticksSince(emu, since), events: (requests * 10) / settings.seconds };
}

export async function benchSchedules(options: { smoke: boolean }): Promise<void> {
  const settings = options.smoke ? smoke : full;
  const { idle, loaded } = await withBenchEmulator("schedules", async (emu) => {
    // The first tick also starts the ticker's worker; it is not counted.
    await new Promise((done) => setTimeout(done, 1_500));
    const idle = await phase(emu, settings, 0);
    return { idle, loaded: await phase(emu, settings, settings.clients) };
  });
  const line = (name: string, p: Phase, extra: string) =>
    `   ${name.padEnd(8)}${String(p.ticks.length).padStart(6)}${`${percentile(p.ticks, 50)} ms`.padStart(9)}${`${percentile(p.ticks, 99)} ms`.padStart(9)}${`${Math.max(...p.ticks)} ms`.padStart(9)}   ${extra}`;
  console.log(
    `\n## Schedules: how late a tick reaches its handler (every 1s, real clock; ${settings.seconds} s idle, then ${settings.seconds} s under load)`,
  );
  console.log(`   ${"".padEnd(8)}${"ticks".padStart(6)}${"p50".padStart(9)}${"p99".padStart(9)}${"max".padStart(9)}`);
  console.log(line("idle", idle, ""));
  console.log(
    line(
      "loaded",
      loaded,
      `${settings.clients} clients, ${formatCount(loaded.events)} events/s through bus → queue → consumer; p50 ${(percentile(loaded.ticks, 50) / Math.max(1, percentile(idle.ticks, 50))).toFixed(1)}× idle`,
    ),
  );
}
