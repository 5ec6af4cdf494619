import { readFile } from "node:fs/promises";
import { NimbusError } from "@nimbus/core";
import type { Output } from "../output.ts";
import { type EmulatorInfo, emulatorInfoPath } from "./dev.ts";

export interface InvokeArgs {
  dir: string;
  fn: string;
  method: string;
  path: string;
  data: string | undefined;
  url: string | undefined;
}

/** The URL of the emulator running for `dir`, from `--url` or `.nimbus/emulator.json`. */
export async function emulatorUrl(dir: string, url: string | undefined): Promise<string> {
  if (url) return url;
  let info: EmulatorInfo;
  try {
    info = JSON.parse(await readFile(emulatorInfoPath(dir), "utf8")) as EmulatorInfo;
  } catch {
    throw new NimbusError(
      "NIMBUS_CLI_NO_EMULATOR",
      `No emulator is running for ${dir} (no .nimbus/emulator.json). Start one with \`nimbus dev ${dir}\`, or pass --url.`,
    );
  }
  try {
    process.kill(info.pid, 0);
  } catch {
    throw new NimbusError(
      "NIMBUS_CLI_NO_EMULATOR",
      `The emulator for ${dir} (pid ${info.pid}) is no longer running. Start it with \`nimbus dev ${dir}\`, or pass --url.`,
    );
  }
  return info.url;
}

/** Calls a function's `fetch` on a running emulator and prints the response; exit 1 on a 4xx or 5xx. */
export async function invokeCommand(args: InvokeArgs, output: Output): Promise<number> {
  const base = await emulatorUrl(args.dir, args.url);
  const path = args.path.startsWith("/") ? args.path : `/${args.path}`;
  const target = new URL(`/_nimbus/invoke/${encodeURIComponent(args.fn)}${path}`, base);
  let response: Response;
  try {
    response = await fetch(target, { method: args.method, body: args.data });
  } catch (error) {
    throw new NimbusError(
      "NIMBUS_CLI_NO_EMULATOR",
      `Could not reach the emulator at ${base}: ${(error as Error).message}`,
    );
  }
  const body = await response.text();
  const control = response.headers.get("content-type")?.includes("json") && body.startsWith('{"error":');
  if (control && response.status === 404) {
    throw new NimbusError("NIMBUS_CLI_INVOKE", (JSON.parse(body) as { error: { message: string } }).error.message);
  }
  output.err(`${response.status} ${response.statusText}`);
  output.out(body);
  return response.status >= 400 ? 1 : 0;
}
