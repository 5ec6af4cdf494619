import { spawn } from "node:child_process";
import { chmod, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { findOnPath } from "./stack.ts";

const timeout = 60_000;
const bin = join(import.meta.dirname, "..", "bin.ts");

/** Runs the real CLI in a child process with `env` replacing PATH and DOCKER_HOST. */
function runCli(args: string[], env: { PATH: string; DOCKER_HOST?: string }) {
  const { DOCKER_HOST: _host, ...rest } = process.env;
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      ["--conditions=nimbus-source", "--disable-warning=ExperimentalWarning", bin, ...args],
      { env: { ...rest, ...env }, timeout },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (data) => {
      stdout += data;
    });
    child.stderr.on("data", (data) => {
      stderr += data;
    });
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** This machine's PATH without any folder holding a `pulumi`. */
const pathWithoutPulumi = () =>
  (process.env.PATH ?? "")
    .split(delimiter)
    .filter((dir) => dir !== "" && !findOnPath("pulumi", dir))
    .join(delimiter);

describe("nimbus preview | deploy | destroy | outputs", () => {
  // An empty app folder: the checks come before the app is even loaded.
  let app: string;
  let fakePulumi: string;

  beforeAll(async () => {
    app = await mkdtemp(join(tmpdir(), "nimbus-stack-"));
    fakePulumi = await mkdtemp(join(tmpdir(), "nimbus-fake-pulumi-"));
    await writeFile(join(fakePulumi, "pulumi"), "#!/bin/sh\necho 'the fake pulumi must not run' >&2\nexit 3\n");
    await chmod(join(fakePulumi, "pulumi"), 0o755);
  });
  afterAll(async () => {
    await rm(app, { recursive: true, force: true });
    await rm(fakePulumi, { recursive: true, force: true });
  });

  test(
    "deploy: without pulumi on PATH stops at once with how to install it, exit code 2, no stack trace",
    async () => {
      const result = await runCli(["deploy", app, "--stack", "dev"], { PATH: pathWithoutPulumi() });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(
        "✖ nimbus deploy needs the Pulumi CLI, and no `pulumi` is on PATH. Install it from https://www.pulumi.com/docs/install/",
      );
      expect(result.stderr).toContain("then run `pulumi login --local`");
      expect(result.stderr).not.toMatch(/\n\s+at /);
      // Nothing was synthesized.
      expect(await readdir(app)).toEqual([]);
    },
    timeout,
  );

  test(
    "deploy: with no Docker engine at DOCKER_HOST stops at once naming it and how to start one, exit code 2",
    async () => {
      const result = await runCli(["deploy", app, "--stack", "dev"], {
        PATH: `${fakePulumi}${delimiter}${pathWithoutPulumi()}`,
        DOCKER_HOST: "unix:///nonexistent",
      });
      expect(result.code).toBe(2);
      expect(result.stderr.trim()).toBe(
        "✖ nimbus deploy needs a running Docker engine, and none answers at unix:///nonexistent (DOCKER_HOST): /nonexistent does not exist. Start it (sudo systemctl start docker, or sudo dockerd &), or point DOCKER_HOST at an engine that runs, e.g. DOCKER_HOST=ssh://user@host.",
      );
      expect(await readdir(app)).toEqual([]);
    },
    timeout,
  );

  test(
    "preview, destroy: check the same before anything else; outputs needs no engine",
    async () => {
      for (const action of ["preview", "destroy"]) {
        const result = await runCli([action, app, "--stack", "dev"], {
          PATH: pathWithoutPulumi(),
          DOCKER_HOST: "unix:///nonexistent",
        });
        expect(result.code, action).toBe(2);
        expect(result.stderr, action).toContain(`✖ nimbus ${action} needs the Pulumi CLI`);
        expect(result.stderr, action).toContain(`✖ nimbus ${action} needs a running Docker engine`);
      }
      const outputs = await runCli(["outputs", app, "--stack", "dev"], {
        PATH: pathWithoutPulumi(),
        DOCKER_HOST: "unix:///nonexistent",
      });
      expect(outputs.code).toBe(2);
      expect(outputs.stderr).toContain("✖ nimbus outputs needs the Pulumi CLI");
      expect(outputs.stderr).not.toContain("Docker engine");
    },
    timeout,
  );
});
