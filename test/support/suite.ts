import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { copyFixture } from "./app-copy.ts";

/**
 * A behaviour suite's emulator: a copy of `test/fixtures/<fixture>` run with the manual
 * clock, handed to `started` once it runs, emptied after each test (after `beforeReset`,
 * which can let go what a failed test left held) and closed at the end.
 */
export function emulatorSuite(
  fixture: string,
  options: { started: (emu: Emulator, root: string) => void; beforeReset?: (emu: Emulator) => Promise<unknown> },
): void {
  let emu: Emulator | undefined;
  let remove: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    const copy = await copyFixture(fixture);
    remove = copy.remove;
    emu = await createEmulator({ root: copy.dir, watch: false, clock: "manual" });
    options.started(emu, copy.dir);
  });
  afterAll(async () => {
    await emu?.close();
    await remove?.();
  });
  // The second idle() makes every queue look at what it holds after the reset, so no
  // test inherits another's partial-batch wait.
  afterEach(async () => {
    if (!emu) return;
    await options.beforeReset?.(emu);
    await emu.idle();
    await emu.reset();
    await emu.idle();
  });
}

/** Rewrites the app file in `root` with `edit` and reloads; the returned function undoes both. */
export async function editApp(
  emu: Emulator,
  root: string,
  edit: (source: string) => string,
): Promise<() => Promise<void>> {
  const file = join(root, "nimbus.app.ts");
  const original = await readFile(file, "utf8");
  const edited = edit(original);
  expect(edited).not.toBe(original);
  await writeFile(file, edited);
  await emu.reload();
  return async () => {
    await writeFile(file, original);
    await emu.reload();
  };
}

/** A queue's stats when it holds nothing. */
export const noMessages: Readonly<Record<"depth" | "inFlight" | "delayed" | "deadLettered", number>> = {
  depth: 0,
  inFlight: 0,
  delayed: 0,
  deadLettered: 0,
};

/** Names no other test of the file uses: `uid("order")` → `order-1`, `order-2`, … */
export function uniqueNames(): (name: string) => string {
  let counter = 0;
  return (name) => `${name}-${++counter}`;
}

/** An emulator, on the manual clock, on the state a killed `nimbus dev` left in `<root>/.nimbus`. */
export function restartOnDevState(root: string): Promise<Emulator> {
  return createEmulator({ root, state: join(root, ".nimbus"), watch: false, clock: "manual" });
}
