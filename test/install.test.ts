// What docs/getting-started.md has a user do, step by step, outside this repository: build
// and pack the packages, `nimbus init` a new app, install the tarballs with plain npm
// (third-party packages from the registry), run the app's tests, serve it with `nimbus dev`.
// Slow (a build and an npm install): about a minute and a half.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "./support/cli.ts";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * A user's shell: this Node first on PATH (so npm and the app run on it), and none of the
 * variables pnpm and vitest set for their own children, which would steer the npm and the
 * vitest run inside the app.
 */
const env: NodeJS.ProcessEnv = Object.fromEntries(
  Object.entries({ ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ""}` }).filter(
    ([name]) => !/^(npm_|pnpm_|vitest)/i.test(name),
  ),
);

function run(command: string, args: readonly string[], cwd: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => {
      stdout += chunk;
    });
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** A failed step shows what it printed, not just its exit code. */
function expectSuccess(result: Run): void {
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
}

describe("installing Nimbus outside the repository", { timeout: 240_000 }, () => {
  let work: string;
  let app: string;
  let tarballs: string[];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), "nimbus-install-"));
    app = join(work, "hello");
    // `./pnpm pack-all` builds every package to dist/, then packs each into a tarball.
    const packed = await run(join(repoRoot, "pnpm"), ["pack-all", "--out", join(work, "packs")], repoRoot);
    expectSuccess(packed);
    tarballs = packed.stdout.split("\n").filter((line) => line.endsWith(".tgz"));
  }, 240_000);

  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it("pack-all: one tarball per published package, with JavaScript and types and no sources", async () => {
    expect(tarballs.map((file) => file.slice(join(work, "packs").length + 1)).sort()).toEqual([
      "nimbus-0.1.0.tgz",
      "nimbus-core-0.1.0.tgz",
      "nimbus-deploy-docker-0.1.0.tgz",
      "nimbus-emulator-0.1.0.tgz",
      "nimbus-runtime-0.1.0.tgz",
      "nimbus-store-0.1.0.tgz",
    ]);
    const listed = await run("tar", ["-tzf", tarballs.find((file) => file.endsWith("nimbus-0.1.0.tgz"))!], work);
    expect(listed.stdout).toContain("package/dist/bin.js");
    expect(listed.stdout).toContain("package/dist/index.d.ts");
    expect(listed.stdout).toContain("package/dist/templates/blank/nimbus.app.ts");
    expect(listed.stdout).not.toContain("package/src/");
  });

  it("init, npm install, npm test, nimbus dev: the new app passes its tests and answers its route", async () => {
    const init = await run(process.execPath, [join(repoRoot, "packages/cli/dist/bin.js"), "init", app], work);
    expectSuccess(init);
    expect(init.stdout).toContain(`Created "hello" from the blank template in ${app}:`);

    expectSuccess(await run("npm", ["install", "--no-audit", "--no-fund", ...tarballs], app));
    const manifest = JSON.parse(await readFile(join(app, "node_modules/@nimbus/core/package.json"), "utf8"));
    // Installed as published: no condition pointing at sources that are not there.
    expect(JSON.stringify(manifest.exports)).not.toContain("nimbus-source");

    const tested = await run("npm", ["test"], app);
    expectSuccess(tested);
    expect(tested.stdout).toMatch(/Tests\s+.*1 passed/);
    expectSuccess(await run("npm", ["run", "typecheck"], app));

    // The installed binary prints only its own output and exits with its own code.
    const graph = await run(join(app, "node_modules/.bin/nimbus"), ["graph"], app);
    expect(graph.stderr).toBe("");
    expect(JSON.parse(graph.stdout)).toMatchObject({ app: "hello" });
    const unknown = await run(join(app, "node_modules/.bin/nimbus"), ["nosuch"], app);
    expect(unknown.code).toBe(1);
    expect(unknown.stdout).toBe("");
    expect(unknown.stderr).toMatch(/^✖ Unknown command "nosuch"\./);

    const dev = spawn("npm", ["run", "dev", "--", "--port", "0"], {
      cwd: app,
      env,
      stdio: ["ignore", "pipe", "pipe"],
      // Its own process group: npm, its shell and nimbus stop together.
      detached: true,
    });
    try {
      const url = await servingUrl(dev);
      const response = await fetch(`${url}/hello/ada`);
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ message: "hello ada" });
    } finally {
      await stop(dev);
    }
  });
});

/** The URL `nimbus dev` prints once it serves: `nimbus dev: app "hello" on http://127.0.0.1:PORT`. */
function servingUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let printed = "";
    const read = (chunk: Buffer) => {
      printed += chunk;
      const found = /nimbus dev: app "[^"]+" on (http:\/\/127\.0\.0\.1:\d+)/.exec(printed);
      if (found) resolve(found[1]!);
    };
    child.stdout?.on("data", read);
    child.stderr?.on("data", read);
    child.on("exit", (code) => reject(new Error(`nimbus dev exited (${code}) before serving:\n${printed}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.on("exit", () => resolve());
    process.kill(-child.pid!, "SIGTERM");
  });
}
