import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "./cli.ts";

/** Starts `nimbus dev` as a real process and resolves with its first JSON line (the ready event). */
export async function startDev(dir: string, extra: string[] = []) {
  const child = spawn(
    process.execPath,
    [
      "--conditions=nimbus-source",
      "--disable-warning=ExperimentalWarning",
      join(repoRoot, "packages/cli/src/bin.ts"),
      "dev",
      dir,
      "--port",
      "0",
      "--log-format",
      "json",
      ...extra,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const lines = createInterface({ input: child.stdout! });
  const stdout: string[] = [];
  const ready = new Promise<{ url: string; pid: number; app: string }>((resolve, reject) => {
    lines.on("line", (line) => {
      stdout.push(line);
      const parsed = JSON.parse(line) as { event?: string; url: string; pid: number; app: string };
      if (parsed.event === "ready") resolve(parsed);
    });
    child.once("exit", (code) => reject(new Error(`nimbus dev exited with ${code} before it was ready`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, ready: await ready, exited, stdout };
}
