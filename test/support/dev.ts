import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { repoRoot } from "./cli.ts";

/**
 * Starts `nimbus dev` as a real process and resolves with its first JSON line (the ready
 * event), the run's control token (from `.nimbus/emulator.json`, as the CLI reads it) and
 * `control(path, init)`, a request to the control API (`/_nimbus<path>`) that carries it.
 */
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
  const ready = new Promise<{ url: string; s3: string; pid: number; app: string }>((resolve, reject) => {
    lines.on("line", (line) => {
      stdout.push(line);
      const parsed = JSON.parse(line) as { event?: string; url: string; s3: string; pid: number; app: string };
      if (parsed.event === "ready") resolve(parsed);
    });
    child.once("exit", (code) => reject(new Error(`nimbus dev exited with ${code} before it was ready`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const started = await ready;
  const info = JSON.parse(await readFile(join(dir, ".nimbus", "emulator.json"), "utf8")) as { token: string };
  const control = (path: string, init?: RequestInit) => {
    const headers = new Headers(init?.headers);
    headers.set("x-nimbus-token", info.token);
    return fetch(`${started.url}/_nimbus${path}`, { ...init, headers });
  };
  return { child, ready: started, exited, stdout, token: info.token, control };
}
