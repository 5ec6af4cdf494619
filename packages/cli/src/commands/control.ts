import { type ErrorCode, NimbusError } from "@nimbus/core";
import { emulatorUrl } from "./invoke.ts";

/** Calls the running emulator's control API; its `{ error }` answers become user errors. */
export async function control(
  dir: string,
  url: string | undefined,
  path: string,
  init?: RequestInit,
): Promise<unknown> {
  const base = await emulatorUrl(dir, url);
  let response: Response;
  try {
    response = await fetch(new URL(path, base), init);
  } catch (error) {
    throw new NimbusError(
      "NIMBUS_CLI_NO_EMULATOR",
      `Could not reach the emulator at ${base}: ${(error as Error).message}`,
    );
  }
  const body = (await response.json()) as { error?: { code: ErrorCode; message: string } };
  if (body.error) throw new NimbusError(body.error.code, body.error.message);
  return body;
}
