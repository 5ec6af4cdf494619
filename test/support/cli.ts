import { spawn, spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

const cliArgs = (args: readonly string[]) => [
  "--conditions=nimbus-source",
  "--disable-warning=ExperimentalWarning",
  join(repoRoot, "packages/cli/src/bin.ts"),
  ...args,
];

/** Options of a CLI run: its folder, and variables added to this process's environment. */
export interface CliOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
}

/**
 * The environment a CLI run needs to drive an emulator of this process with `--url`: the
 * run's control token, which the CLI otherwise reads from the app's `.nimbus/emulator.json`.
 */
export function emulatorEnv(emu: { controlToken: string }): NodeJS.ProcessEnv {
  return { NIMBUS_EMULATOR_TOKEN: emu.controlToken };
}

/** Runs the real `nimbus` CLI from source in a child process, as `pnpm nimbus` does. */
export function runCli(args: readonly string[], options: CliOptions = {}): CliResult {
  const result = spawnSync(process.execPath, cliArgs(args), {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...options.env },
    encoding: "utf8",
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `runCli` without blocking: for a CLI that talks to an emulator running in this process. */
export function runCliAsync(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return runAsync(process.execPath, cliArgs(args), {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, ...options.env },
  });
}

/** Runs a program to its end without blocking this process, collecting its output. */
export function runAsync(
  command: string,
  args: readonly string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { ...options, timeout: 60_000 });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data) => {
      stdout += data;
    });
    child.stderr.on("data", (data) => {
      stderr += data;
    });
    child.on("close", (status) => resolve({ status, stdout, stderr }));
  });
}
