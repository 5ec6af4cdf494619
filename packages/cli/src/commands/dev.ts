import { join, resolve } from "node:path";
import { formatRoute, NimbusError } from "@nimbus/core";
import { type AllowedHosts, createEmulator, type Emulator, type LogFormat } from "@nimbus/emulator";
import type { Output } from "../output.ts";

export interface DevArgs {
  dir: string;
  port: number;
  s3Port: number;
  host: string;
  /** Host names served besides loopback's and the bound address; `true`: any. */
  allowedHosts: AllowedHosts;
  logFormat: LogFormat;
}

/** Runs the emulator until SIGINT or SIGTERM; requests in flight finish before it exits. */
export async function devCommand(args: DevArgs, output: Output): Promise<void> {
  if (args.host !== "127.0.0.1" && args.host !== "localhost" && args.host !== "::1") {
    output.err(`⚠ --host ${args.host}: the emulator will be reachable from other machines on your network.`);
  }
  if (args.allowedHosts === true) {
    output.err("⚠ --allowed-hosts all: any web page you open can reach the app's routes and the S3 endpoint.");
  }
  const started = performance.now();
  const emu = await createEmulator({
    root: args.dir,
    port: args.port,
    s3Port: args.s3Port,
    host: args.host,
    allowedHosts: args.allowedHosts,
    state: join(resolve(args.dir), ".nimbus"),
    logFormat: args.logFormat,
    // Printed, never read back: holding entries would only cost memory and time.
    keepLogs: 0,
    // This process builds only for the emulator: esbuild's service can go while no file changes.
    buildServiceIdleMs: 2_000,
    collectWhenIdle: true,
  });
  // The emulator keeps .nimbus/emulator.json, token included; the token is never printed.
  const info = {
    url: emu.url,
    s3: emu.s3.endpoint,
    pid: process.pid,
    app: emu.graph.app,
    startedAt: new Date().toISOString(),
  };
  if (args.logFormat === "json") {
    output.out(JSON.stringify({ event: "ready", ...info, ms: Math.round(performance.now() - started) }));
  } else {
    output.out(summary(emu, performance.now() - started));
  }

  const signal = await new Promise<NodeJS.Signals>((resolveSignal) => {
    process.once("SIGINT", resolveSignal);
    process.once("SIGTERM", resolveSignal);
  });
  if (args.logFormat !== "json") output.out(`\n${signal}: finishing requests in flight…`);
  await emu.close();
}

function summary(emu: Emulator, ms: number): string {
  const { graph, url, s3 } = emu;
  const lines = [`nimbus dev: app "${graph.app}" on ${url} (ready in ${Math.round(ms)} ms)`, "", "  Routes"];
  const routes = graph.resources.flatMap((r) =>
    r.kind === "function" ? r.spec.routes.map((route) => ({ route: formatRoute(route), fn: r.name })) : [],
  );
  for (const { route, fn } of routes) lines.push(`    ${route.padEnd(30)} → ${fn}`);
  if (routes.length === 0) lines.push("    (none)");
  lines.push("", "  Resources");
  for (const r of graph.resources) lines.push(`    ${r.kind.padEnd(9)} ${r.name}`);
  lines.push(
    "",
    `  S3 endpoint ${s3.endpoint} (path-style, region ${s3.region})`,
    `    AWS_ACCESS_KEY_ID=${s3.accessKeyId} AWS_SECRET_ACCESS_KEY=${s3.secretAccessKey}`,
    "",
    "  Ctrl+C stops it.",
  );
  return lines.join("\n");
}

/** Reads a port option, with an error that says what is expected. */
export function parsePort(value: unknown, option = "--port", fallback = 8787): number {
  if (value === undefined) return fallback;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new NimbusError(
      "NIMBUS_CLI_ARGS",
      `${option} expects a whole number from 0 to 65535; found "${String(value)}".`,
    );
  }
  return port;
}

/** Reads `--allowed-hosts a.example,.b.example` (or `all`), with an error that says what is expected. */
export function parseAllowedHosts(value: unknown): AllowedHosts {
  if (value === undefined) return [];
  const text = String(value).trim();
  if (text === "all") return true;
  const names = text.split(",").map((name) => name.trim());
  const bad = names.find(
    (name) => !/^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(name),
  );
  if (bad !== undefined) {
    throw new NimbusError(
      "NIMBUS_CLI_ARGS",
      `--allowed-hosts expects host names separated by commas (".example.com" for it and every name under it), or "all"; found "${bad}".`,
    );
  }
  return names;
}

export function parseLogFormat(value: unknown): LogFormat {
  if (value === undefined) return "pretty";
  if (value === "pretty" || value === "json") return value;
  throw new NimbusError("NIMBUS_CLI_ARGS", `--log-format expects "pretty" or "json"; found "${String(value)}".`);
}
