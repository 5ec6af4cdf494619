import { type ChildProcess, spawn } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** A nats-server started from a configuration of the test's own, on a free 127.0.0.1 port. */
export interface ConfiguredNats {
  /** `nats://127.0.0.1:<port>` */
  url: string;
  stop(): Promise<void>;
}

/**
 * Starts `binary -c <file>`, the file being what `config` renders for a free port and a
 * fresh JetStream folder, and resolves once the server says it is ready. (The runtime's
 * `startNatsServer` starts an open server; this one runs a generated configuration with
 * its accounts and permissions.)
 */
export async function startConfiguredNats(
  binary: string,
  config: (listen: { listen: string; storeDir: string }) => string,
): Promise<ConfiguredNats> {
  const dir = await mkdtemp(join(tmpdir(), "nimbus-nats-conf-"));
  const port = await freePort();
  const file = join(dir, "nats.conf");
  await writeFile(file, config({ listen: `127.0.0.1:${port}`, storeDir: join(dir, "jetstream") }));
  const child: ChildProcess = spawn(binary, ["-c", file], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`nats-server was not ready within 20s:\n${output}`)), 20_000);
    const read = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Server is ready")) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on("data", read);
    child.stderr?.on("data", read);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`nats-server exited (${code}) before it was ready:\n${output}`));
    });
  });
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}
