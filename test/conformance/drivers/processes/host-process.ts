import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { freePort } from "@nimbus/runtime/host/testing";
import { repoRoot } from "../../../support/cli.ts";

/** The deployed host's entry, run from source as the docker target's image runs its build. */
const hostMain = join(repoRoot, "packages/runtime/src/host/main.ts");

/** How much of a host's output is kept for the message of a failed start. */
const keptOutput = 16 * 1024;
/** How long a host may take to answer ready. */
const readyTimeout = 30_000;

/**
 * One host process (`node packages/runtime/src/host/main.ts`), configured only by its
 * environment. Its output is kept (the tail) for errors; set NIMBUS_CONFORMANCE_LOGS=1 to
 * see it live.
 */
export class HostProcess {
  readonly label: string;
  readonly port: number;
  readonly #process: ChildProcess;
  readonly #exited: Promise<void>;
  #stopping = false;
  #output = "";

  private constructor(label: string, port: number, env: Record<string, string>) {
    this.label = label;
    this.port = port;
    const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith("NIMBUS_")));
    this.#process = spawn(
      process.execPath,
      ["--conditions=nimbus-source", "--disable-warning=ExperimentalWarning", "--enable-source-maps", hostMain],
      {
        env: { ...inherited, ...env, NIMBUS_PORT: String(port), NIMBUS_HOSTNAME: "127.0.0.1" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const keep = (chunk: Buffer) => {
      if (process.env.NIMBUS_CONFORMANCE_LOGS) process.stderr.write(`[${label}] ${chunk}`);
      this.#output = (this.#output + chunk.toString()).slice(-keptOutput);
    };
    this.#process.stdout?.on("data", keep);
    this.#process.stderr?.on("data", keep);
    this.#exited = new Promise((resolve) => this.#process.once("exit", () => resolve()));
  }

  /**
   * Starts a host on `port` (else a free port) and resolves once its readiness endpoint
   * answers 200. A port another process took between the pick and the listen (several
   * test files start hosts at once) is tried again: `port` after a pause, a free port anew.
   */
  static async start(label: string, env: Record<string, string>, port?: number): Promise<HostProcess> {
    for (let attempt = 1; ; attempt++) {
      const host = new HostProcess(label, port ?? (await freePort()), env);
      try {
        await host.#ready();
        return host;
      } catch (error) {
        await host.kill();
        if (attempt === 5 || !host.output.includes("EADDRINUSE")) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
      }
    }
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get output(): string {
    return this.#output;
  }

  /** Calls `crashed` when the process ends without being asked to (a handler's `process.exit`, an OOM kill). */
  onCrash(crashed: () => void): void {
    void this.#exited.then(() => {
      if (!this.#stopping) crashed();
    });
  }

  /** SIGTERM: the host finishes what runs and exits. */
  async stop(): Promise<void> {
    await this.#end("SIGTERM");
  }

  /** SIGKILL: nothing is cleaned up. */
  async kill(): Promise<void> {
    await this.#end("SIGKILL");
  }

  async #end(signal: NodeJS.Signals): Promise<void> {
    this.#stopping = true;
    if (this.#process.exitCode === null && this.#process.signalCode === null) this.#process.kill(signal);
    await this.#exited;
  }

  // Polled: the readiness endpoint is the host's only signal, as for an orchestrator.
  async #ready(): Promise<void> {
    const deadline = Date.now() + readyTimeout;
    let last = "no answer";
    for (;;) {
      if (this.#process.exitCode !== null || this.#process.signalCode !== null) {
        throw new Error(
          `host ${this.label} exited (${this.#process.signalCode ?? `code ${this.#process.exitCode}`}) before it was ready:\n${this.#output}`,
        );
      }
      try {
        const response = await fetch(`${this.url}/_nimbus/health/ready`);
        if (response.ok) return;
        last = `${response.status} ${await response.text()}`;
      } catch (error) {
        last = (error as Error).message;
      }
      if (Date.now() > deadline) {
        throw new Error(`host ${this.label} was not ready within ${readyTimeout / 1000}s (${last}):\n${this.#output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
