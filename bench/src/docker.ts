/**
 * Issue #15's figures on the local Docker engine, the app applied by the Docker target's
 * program under the test suite's engine mocks (run in a child process,
 * test/support/docker/deploy-cli.ts) with the local test images: the shop from nothing
 * to its first 200 through the gateway, and a redeploy after a one-line change to
 * serving the new code; hello world through the gateway to a function container beside
 * the emulator and raw @hono/node-server in the same run; a function container's start
 * to ready. Skipped, saying why, where no engine answers.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { request } from "node:http";
import { createServer } from "node:net";
import { join } from "node:path";
import { createInterface, type Interface } from "node:readline";
import { createEmulator } from "@nimbus/emulator";
import { load } from "./emulator.ts";
import { benchDir, copyApp, median } from "./support.ts";

const repoRoot = join(benchDir, "..");
const deployCli = join(repoRoot, "test/support/docker/deploy-cli.ts");
const node = process.execPath;
const nodeFlags = ["--conditions=nimbus-source", "--disable-warning=ExperimentalWarning"];
const ms = (value: number) => `${value.toFixed(0).padStart(6)} ms`;

/** Whether an engine answers on the socket, without the test support's client. */
function engineAnswers(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: "/var/run/docker.sock", path: "/_ping", timeout: 3_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

interface Answer {
  event: string;
  [key: string]: unknown;
}

/** A deployment in a child process, driven by JSON lines. */
class Deployed {
  readonly child: ChildProcess;
  readonly #lines: Interface;
  readonly #waiting: ((answer: Answer) => void)[] = [];
  #stderr = "";

  constructor(appDir: string) {
    this.child = spawn(node, [...nodeFlags, deployCli, appDir], { stdio: ["pipe", "pipe", "pipe"] });
    this.child.stderr?.on("data", (chunk: Buffer) => {
      this.#stderr = (this.#stderr + chunk.toString()).slice(-4_000);
    });
    this.#lines = createInterface({ input: this.child.stdout! });
    this.#lines.on("line", (line) => {
      if (!line.startsWith("{")) return;
      this.#waiting.shift()?.(JSON.parse(line) as Answer);
    });
  }

  /** The next answer; an `error` answer throws. */
  next(): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const exited = () => reject(new Error(`the deployment process exited:\n${this.#stderr}`));
      this.child.once("exit", exited);
      this.#waiting.push((answer) => {
        this.child.off("exit", exited);
        if (answer.event === "error") reject(new Error(String(answer.message)));
        else resolve(answer);
      });
    });
  }

  async send(command: string): Promise<Answer> {
    const answer = this.next();
    this.child.stdin!.write(`${command}\n`);
    return answer;
  }

  async destroy(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise((resolve) => this.child.once("exit", resolve));
    this.child.stdin!.end("destroy\n");
    await exited;
  }
}

/** Polls `url` until `accept` holds for its answer; the time it took from `started`. */
async function until(url: string, accept: (status: number, body: string) => boolean, started: number) {
  for (;;) {
    try {
      const response = await fetch(url);
      if (accept(response.status, await response.text())) return performance.now() - started;
    } catch {
      // not answering yet
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function benchShop(): Promise<void> {
  const shop = await copyApp("shop", join(repoRoot, "examples/shop"));
  const file = join(shop.dir, "src/report.ts");
  const source = await readFile(file, "utf8");
  let deployed: Deployed | undefined;
  try {
    const started = performance.now();
    deployed = new Deployed(shop.dir);
    const answer = await deployed.next();
    const gatewayUrl = String(answer.gatewayUrl);
    const first = await until(`${gatewayUrl}/report`, (status) => status === 200, started);
    const timings = answer.timings as { synthMs: number; applyMs: number; readyMs: number };

    await writeFile(
      file,
      source.replace(
        "return Response.json(await summarise(env, new Date().toISOString().slice(0, 10)));",
        'return Response.json({ ...(await summarise(env, new Date().toISOString().slice(0, 10))), edition: "second" });',
      ),
    );
    const editedAt = performance.now();
    const again = await deployed.send("redeploy");
    const redeploy = await until(`${gatewayUrl}/report`, (_, body) => body.includes('"edition":"second"'), editedAt);
    const re = again.timings as typeof timings;

    console.log("\n## Docker target: the shop on the local engine (engine mocks, local images)");
    console.log(
      `   from nothing to the first 200 through the gateway   ${ms(first)}   goal < 30 s   (synth ${ms(timings.synthMs)}, apply ${ms(timings.applyMs)}, ready ${ms(timings.readyMs)})`,
    );
    console.log(
      `   one-line change to serving the new code            ${ms(redeploy)}   goal < 10 s   (synth ${ms(re.synthMs)}, apply ${ms(re.applyMs)}, ready ${ms(re.readyMs)})`,
    );
  } finally {
    await deployed?.destroy();
    await shop.remove();
  }
}

async function benchHello(seconds: number, starts: number): Promise<void> {
  const app = await copyApp("hello");
  const file = join(app.dir, "nimbus.app.ts");
  // One function: the figure is one container behind the gateway.
  await writeFile(file, (await readFile(file, "utf8")).replace(/^for \(let i = 1;.*$/m, ""));
  let deployed: Deployed | undefined;
  let raw: ChildProcess | undefined;
  const emu = await createEmulator({ root: app.dir, watch: false, logFormat: "silent" });
  try {
    const port = await freePort();
    raw = spawn(node, [join(benchDir, "src/raw-hono.ts"), String(port)], { stdio: "ignore" });
    await until(`http://127.0.0.1:${port}/hello`, (status) => status === 200, performance.now());
    const rawResult = await load(`http://127.0.0.1:${port}/hello`, seconds);
    raw.kill();
    const emuResult = await load(`${emu.url}/hello`, seconds);
    await emu.close();

    deployed = new Deployed(app.dir);
    const answer = await deployed.next();
    const gatewayResult = await load(`${String(answer.gatewayUrl)}/hello`, seconds);
    const container = (answer.containers as Record<string, string[]>).hello![0]!;
    const startToReady: number[] = [];
    for (let i = 0; i < starts; i++) startToReady.push(Number((await deployed.send(`start-to-ready ${container}`)).ms));

    const row = (name: string, r: { rps: number; p99: number; errors: number }) =>
      `   ${name.padEnd(44)} ${r.rps.toFixed(0).padStart(7)} req/s   p99 ${String(r.p99).padStart(4)} ms${r.errors ? `   (${r.errors} errors/non-2xx)` : ""}`;
    console.log(`\n## Docker target: hello world, 50 connections, ${seconds} s (autocannon)`);
    console.log(row("raw @hono/node-server (baseline)", rawResult));
    console.log(row("nimbus emulator", emuResult));
    console.log(
      `${row("gateway (Caddy) → function container", gatewayResult)}   ${((gatewayResult.rps / rawResult.rps) * 100).toFixed(0)}% of raw, ${((gatewayResult.rps / emuResult.rps) * 100).toFixed(0)}% of the emulator`,
    );
    console.log(
      `   function container start to ready (median of ${starts})  ${ms(median(startToReady))}   (engine start → its readiness endpoint answers)`,
    );
  } finally {
    raw?.kill();
    await emu.close().catch(() => {});
    await deployed?.destroy();
    await app.remove();
  }
}

export async function benchDocker(options: { smoke: boolean }): Promise<void> {
  if (!(await engineAnswers())) {
    console.log("\n## Docker target: skipped (no Docker engine answers on /var/run/docker.sock)");
    return;
  }
  // The smoke pass deploys the hello app once, briefly: the shop's figures take ~20 s more.
  if (!options.smoke) await benchShop();
  await benchHello(options.smoke ? 1 : 10, options.smoke ? 1 : 5);
}
