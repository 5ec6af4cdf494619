// Runs the app in the emulator, as `nimbus dev` does, on a free port with its own
// temporary state: each test file starts clean and leaves nothing behind.
import { fileURLToPath } from "node:url";
import { createEmulator, type Emulator } from "@nimbus/emulator/testing";
import { afterAll, beforeAll, expect, it } from "vitest";

let emu: Emulator;

beforeAll(async () => {
  emu = await createEmulator({ root: fileURLToPath(new URL("..", import.meta.url)), watch: false });
});

afterAll(async () => {
  await emu?.close();
});

it("GET /hello/:name: greets the name in the path", async () => {
  const response = await emu.fetch("/hello/ada");
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ message: "hello ada" });
});
