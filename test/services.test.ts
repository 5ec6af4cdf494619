import { spawn } from "node:child_process";
import { type AddressInfo, connect, createServer } from "node:net";
import { describe, expect, it } from "vitest";
import { requireService } from "./support/services.ts";

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The first line a NATS server sends a new client. */
async function natsInfo(port: number): Promise<string> {
  for (;;) {
    const line = await new Promise<string | undefined>((resolve) => {
      const socket = connect(port, "127.0.0.1");
      socket.once("data", (data) => {
        resolve(data.toString("utf8").split("\r\n")[0]);
        socket.destroy();
      });
      socket.once("error", () => resolve(undefined));
    });
    if (line) return line;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const nats = requireService("nats-server");
const aws = requireService("aws");

describe("services for the deployed-runtime and S3 suites", () => {
  it.skipIf(nats.skip)("nats-server: starts with JetStream on 127.0.0.1 and greets a client", async () => {
    const port = await freePort();
    const child = spawn(nats.path!, ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", `/tmp/nimbus-nats-${port}`]);
    try {
      const info = await natsInfo(port);
      expect(info).toMatch(/^INFO /);
      expect(JSON.parse(info.slice(5))).toMatchObject({ jetstream: true, port });
    } finally {
      child.kill("SIGTERM");
    }
  });

  it.skipIf(aws.skip)("aws: the Debian aws CLI v2 runs", async () => {
    const child = spawn(aws.path!, ["--version"]);
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    await new Promise((resolve) => child.on("close", resolve));
    expect(out).toMatch(/^aws-cli\/2\./);
  });
});
