import { spawn } from "node:child_process";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { type AddressInfo, connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { describe, expect, it } from "vitest";
import { findService, requireService } from "./support/services.ts";

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

describe("finding the aws CLI (test/support/services.ts)", () => {
  /** A folder holding an `aws` that prints `version` as the real one does. */
  async function fakeAws(root: string, folder: string, version: string): Promise<string> {
    const dir = join(root, folder);
    await mkdir(dir);
    await writeFile(join(dir, "aws"), `#!/bin/sh\necho "${version} Python/3.9.2 Linux/6.1"\n`);
    await chmod(join(dir, "aws"), 0o755);
    return dir;
  }

  it("findService: passes over a v1 earlier on PATH for the v2 after it", async () => {
    const root = await mkdtemp(join(tmpdir(), "nimbus-aws-find-"));
    try {
      const v1 = await fakeAws(root, "v1", "aws-cli/1.19.1");
      const v2 = await fakeAws(root, "v2", "aws-cli/2.9.19");
      const { found, passedOver } = findService("aws", undefined, { paths: [], PATH: [v1, v2].join(delimiter) });
      expect(found).toEqual({ path: join(v2, "aws"), version: "aws-cli/2.9.19 Python/3.9.2 Linux/6.1" });
      expect(passedOver.map((o) => o.path)).toEqual([join(v1, "aws")]);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  it("findService: with only a v1, finds nothing for a v2 suite and names the v1 it passed over", async () => {
    const root = await mkdtemp(join(tmpdir(), "nimbus-aws-find-"));
    try {
      const v1 = await fakeAws(root, "v1", "aws-cli/1.19.1");
      const places = { paths: [], PATH: v1 };
      const v2Only = findService("aws", undefined, places);
      expect(v2Only.found).toBeUndefined();
      expect(v2Only.passedOver).toEqual([{ path: join(v1, "aws"), version: "aws-cli/1.19.1 Python/3.9.2 Linux/6.1" }]);
      // A suite that accepts v1 as a fallback takes it.
      expect(findService("aws", [/^aws-cli\/2\./, /^aws-cli\/1\./], places).found?.path).toBe(join(v1, "aws"));
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
});
