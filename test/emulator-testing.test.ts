// `@nimbus/emulator/testing`: the one emulator entry an example's own tests may import
// (scripts/check-deps.ts), with what tests drive the emulator with.
import * as main from "@nimbus/emulator";
import { createEmulator } from "@nimbus/emulator/testing";
import { describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";

describe("@nimbus/emulator/testing", () => {
  it("testing entry: starts an app on the manual clock, serves its routes, and moves time only when told", async () => {
    expect(createEmulator).toBe(main.createEmulator);
    const copy = await copyFixture("emulator");
    const emu = await createEmulator({ root: copy.dir, clock: "manual", watch: false });
    try {
      expect(await (await emu.fetch("/hello/tests")).json()).toMatchObject({ message: "hello tests" });
      const before = emu.clock.now();
      expect(emu.clock.now()).toBe(before);
      await emu.clock.advance("5m");
      expect(emu.clock.now()).toBe(before + 5 * 60_000);
    } finally {
      await emu.close();
      await copy.remove();
    }
  });
});
