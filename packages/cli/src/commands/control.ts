import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { type ErrorCode, NimbusError } from "@nimbus/core";
import { controlTokenHeader, type EmulatorInfo, emulatorInfoFile } from "@nimbus/emulator";

/** `<dir>/.nimbus/emulator.json`, which a running `nimbus dev` keeps for the commands that talk to it. */
export function emulatorInfoPath(dir: string): string {
  return join(resolve(dir), ".nimbus", emulatorInfoFile);
}

/** The running emulator to talk to: its URL and the headers every request to its control API needs. */
export interface EmulatorTarget {
  url: string;
  headers: Record<string, string>;
}

/**
 * The emulator running for `dir`, from `.nimbus/emulator.json`, or at `--url`. Its control
 * token is read from that file; with `--url`, from `NIMBUS_EMULATOR_TOKEN` when set (an
 * emulator whose state is elsewhere), else from the file, and then sent only to the
 * emulator the file names, never to another server.
 */
export async function findEmulator(dir: string, url: string | undefined): Promise<EmulatorTarget> {
  let info: EmulatorInfo | undefined;
  try {
    info = JSON.parse(await readFile(emulatorInfoPath(dir), "utf8")) as EmulatorInfo;
  } catch {
    if (!url) {
      throw new NimbusError(
        "NIMBUS_CLI_NO_EMULATOR",
        `No emulator is running for ${dir} (no .nimbus/emulator.json). Start one with \`nimbus dev ${dir}\`, or pass --url.`,
      );
    }
  }
  if (url) {
    const token = process.env.NIMBUS_EMULATOR_TOKEN || (info && sameEmulator(url, info.url) ? info.token : undefined);
    return { url, headers: token ? { [controlTokenHeader]: token } : {} };
  }
  const running = info!;
  try {
    process.kill(running.pid, 0);
  } catch {
    throw new NimbusError(
      "NIMBUS_CLI_NO_EMULATOR",
      `The emulator for ${dir} (pid ${running.pid}) is no longer running. Start it with \`nimbus dev ${dir}\`, or pass --url.`,
    );
  }
  return { url: running.url, headers: { [controlTokenHeader]: running.token } };
}

/** Whether two URLs reach the same server: the same origin, or the same port on loopback under two names. */
function sameEmulator(a: string, b: string): boolean {
  let first: URL;
  let second: URL;
  try {
    first = new URL(a);
    second = new URL(b);
  } catch {
    return false;
  }
  const loopback = (host: string) =>
    host === "localhost" || host.endsWith(".localhost") || /^127\./.test(host) || host === "[::1]";
  return (
    first.origin === second.origin ||
    (first.port === second.port && loopback(first.hostname) && loopback(second.hostname))
  );
}

/** The user error for a control API's `{ error }` answer, with what the CLI can add to fix it. */
export function controlError(
  error: { code: ErrorCode; message: string },
  dir: string,
  url: string | undefined,
): NimbusError {
  const hint =
    error.code === "NIMBUS_CONTROL_TOKEN" && url
      ? ` With --url, also give the app's folder (now ${dir}), whose .nimbus/emulator.json holds it, or set NIMBUS_EMULATOR_TOKEN.`
      : "";
  return new NimbusError(error.code, `${error.message}${hint}`);
}

/** Calls the running emulator's control API; its `{ error }` answers become user errors. */
export async function control(
  dir: string,
  url: string | undefined,
  path: string,
  init?: RequestInit,
): Promise<unknown> {
  const target = await findEmulator(dir, url);
  let response: Response;
  try {
    const headers = new Headers(init?.headers);
    for (const [name, value] of Object.entries(target.headers)) headers.set(name, value);
    response = await fetch(new URL(path, target.url), { ...init, headers });
  } catch (error) {
    throw new NimbusError(
      "NIMBUS_CLI_NO_EMULATOR",
      `Could not reach the emulator at ${target.url}: ${(error as Error).message}`,
    );
  }
  const body = (await response.json()) as { error?: { code: ErrorCode; message: string } };
  if (body.error) throw controlError(body.error, dir, url);
  return body;
}
