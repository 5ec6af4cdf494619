import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `nimbus` CLI from source in a child process, as `pnpm nimbus` does. */
export function runCli(args: readonly string[], options: { cwd?: string } = {}): CliResult {
  const result = spawnSync(
    process.execPath,
    [
      "--conditions=nimbus-source",
      "--disable-warning=ExperimentalWarning",
      join(repoRoot, "packages/cli/src/bin.ts"),
      ...args,
    ],
    { cwd: options.cwd ?? repoRoot, encoding: "utf8", timeout: 60_000 },
  );
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
