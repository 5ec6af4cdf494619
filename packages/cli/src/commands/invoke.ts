import { type ErrorCode, NimbusError } from "@nimbus/core";
import type { Output } from "../output.ts";
import { controlError, findEmulator } from "./control.ts";

export interface InvokeArgs {
  dir: string;
  fn: string;
  method: string;
  path: string;
  data: string | undefined;
  url: string | undefined;
}

/** Calls a function's `fetch` on a running emulator and prints the response; exit 1 on a 4xx or 5xx. */
export async function invokeCommand(args: InvokeArgs, output: Output): Promise<number> {
  const { url: base, headers } = await findEmulator(args.dir, args.url);
  const path = args.path.startsWith("/") ? args.path : `/${args.path}`;
  const target = new URL(`/_nimbus/invoke/${encodeURIComponent(args.fn)}${path}`, base);
  let response: Response;
  try {
    response = await fetch(target, { method: args.method, body: args.data, headers });
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
  // The emulator refused the call itself (no token, a host it does not serve), before any function ran.
  if (control && (response.status === 401 || response.status === 403)) {
    const { error } = JSON.parse(body) as { error: { code: ErrorCode; message: string } };
    if (error.code.startsWith("NIMBUS_CONTROL_") || error.code === "NIMBUS_EMULATOR_HOST") {
      throw controlError(error, args.dir, args.url);
    }
  }
  output.err(`${response.status} ${response.statusText}`);
  output.out(body);
  return response.status >= 400 ? 1 : 0;
}
