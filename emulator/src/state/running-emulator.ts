import { readFileSync } from "node:fs";
import { join } from "node:path";
import { NimbusError } from "@nimbus/core";

/**
 * Refuses to start a second emulator on a state folder another live process runs on
 * (two `nimbus dev` on one app): it would take over `emulator.json`, leaving the CLI
 * unable to reach the first, and share its stores. A file left by a process that has
 * died is no obstacle.
 */
export function refuseIfRunning(stateDir: string, root: string): void {
  let info: { pid?: unknown; url?: unknown };
  try {
    info = JSON.parse(readFileSync(join(stateDir, "emulator.json"), "utf8")) as typeof info;
  } catch {
    return;
  }
  const { pid, url } = info;
  // This process's own entry is an emulator a test has not closed yet; its owner knows of it.
  if (typeof pid !== "number" || pid === process.pid || !alive(pid)) return;
  const port = typeof url === "string" ? URL.parse(url)?.port : undefined;
  throw new NimbusError(
    "NIMBUS_EMULATOR_ALREADY_RUNNING",
    `An emulator already runs for ${root} (pid ${pid}${port ? `, port ${port}` : ""}${typeof url === "string" ? `, ${url}` : ""}). Stop it first (Ctrl+C in its terminal, or kill ${pid}); the nimbus commands talk to it as it is.`,
  );
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the process exists, under another user.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
