import { statSync } from "node:fs";
import { parseArgs } from "node:util";
import { NimbusError } from "@nimbus/core";
import {
  buildHelp,
  devHelp,
  dlqHelp,
  emitHelp,
  explainHelp,
  graphHelp,
  initHelp,
  invokeHelp,
  queuesHelp,
  redriveHelp,
  scheduleHelp,
  sendHelp,
  stackHelp,
  synthHelp,
  triggerHelp,
  usage,
} from "./help.ts";
import { type Output, processOutput, reportError } from "./output.ts";

interface Command {
  help: string;
  options: Record<string, { type: "string" | "boolean"; short?: string }>;
  /** Exit code on an error; default 1. */
  errorCode?: number;
  /** Resolves with the exit code; anything but a number means 0. */
  run(positionals: string[], values: Record<string, unknown>, output: Output): Promise<unknown>;
}

/**
 * The operands of a command written `[dir] <a> <b>…` (`count` of them after the optional
 * folder), with the folder first (`.` when left out); a usage error otherwise.
 */
function operands(positionals: string[], count: number, usage: string, help: string, hint = ""): string[] {
  if (hint || positionals.length < count || positionals.length > count + 1) {
    throw new NimbusError("NIMBUS_CLI_ARGS", `Expected \`${usage}\`.${hint}\n\n${help}`);
  }
  return positionals.length === count ? [".", ...positionals] : positionals;
}

const commands: Record<string, Command> = {
  init: {
    help: initHelp,
    options: { template: { type: "string" }, force: { type: "boolean" } },
    run: async (positionals, values, output) => {
      if (positionals.length > 1) {
        throw new NimbusError("NIMBUS_CLI_ARGS", `Expected \`nimbus init [dir]\`.\n\n${initHelp}`);
      }
      const { initCommand } = await import("./commands/init.ts");
      await initCommand(
        { dir: positionals[0] ?? ".", template: values.template as string | undefined, force: values.force === true },
        output,
      );
    },
  },
  dev: {
    help: devHelp,
    options: {
      port: { type: "string" },
      "s3-port": { type: "string" },
      host: { type: "string" },
      "allowed-hosts": { type: "string" },
      "log-format": { type: "string" },
      debug: { type: "boolean" },
    },
    run: async ([dir = "."], values, output) => {
      // Read where a handler's error is shown: its stack then keeps the emulator's own frames.
      if (values.debug) process.env.NIMBUS_DEBUG = "1";
      const { devCommand, parseAllowedHosts, parseLogFormat, parsePort } = await import("./commands/dev.ts");
      const port = parsePort(values.port);
      // Beside the app's port by default; with --port 0, a free one too.
      const s3Port = parsePort(values["s3-port"], "--s3-port", port === 0 ? 0 : port + 1);
      const logFormat = parseLogFormat(values["log-format"]);
      const allowedHosts = parseAllowedHosts(values["allowed-hosts"]);
      const host = String(values.host ?? "127.0.0.1");
      await devCommand({ dir, port, s3Port, host, allowedHosts, logFormat }, output);
    },
  },
  invoke: {
    help: invokeHelp,
    options: {
      method: { type: "string" },
      path: { type: "string" },
      data: { type: "string" },
      url: { type: "string" },
    },
    run: async (positionals, values, output) => {
      const [dir = ".", fn = ""] = operands(positionals, 1, "nimbus invoke [dir] <fn>", invokeHelp);
      const data = values.data === undefined ? undefined : String(values.data);
      const method = String(values.method ?? (data === undefined ? "GET" : "POST")).toUpperCase();
      const { invokeCommand } = await import("./commands/invoke.ts");
      return invokeCommand(
        { dir, fn, method, path: String(values.path ?? "/"), data, url: values.url as string | undefined },
        output,
      );
    },
  },
  send: {
    help: sendHelp,
    options: { url: { type: "string" } },
    run: async (positionals, values, output) => {
      const [dir = ".", queue = "", json = ""] = operands(positionals, 2, "nimbus send [dir] <queue> <json>", sendHelp);
      const { sendCommand } = await import("./commands/queues.ts");
      await sendCommand({ dir, queue, json, url: values.url as string | undefined }, output);
    },
  },
  queues: {
    help: queuesHelp,
    options: { url: { type: "string" } },
    run: async ([dir = "."], values, output) => {
      const { queuesCommand } = await import("./commands/queues.ts");
      await queuesCommand({ dir, url: values.url as string | undefined }, output);
    },
  },
  redrive: {
    help: redriveHelp,
    options: { url: { type: "string" } },
    run: async (positionals, values, output) => {
      const [dir = ".", queue = ""] = operands(positionals, 1, "nimbus redrive [dir] <queue>", redriveHelp);
      const { redriveCommand } = await import("./commands/queues.ts");
      await redriveCommand({ dir, queue, url: values.url as string | undefined }, output);
    },
  },
  dlq: {
    help: dlqHelp,
    options: {
      purge: { type: "boolean" },
      yes: { type: "boolean", short: "y" },
      limit: { type: "string" },
      url: { type: "string" },
    },
    run: async (positionals, values, output) => {
      const [dir = ".", queue = ""] = operands(positionals, 1, "nimbus dlq [dir] <queue>", dlqHelp);
      const limit = Number(values.limit ?? 100);
      if (!Number.isInteger(limit) || limit < 1) {
        throw new NimbusError(
          "NIMBUS_CLI_ARGS",
          `--limit expects a whole number from 1; found "${String(values.limit)}".`,
        );
      }
      if (values.yes && !values.purge) {
        throw new NimbusError(
          "NIMBUS_CLI_ARGS",
          "--yes confirms --purge; pass both to empty the queue without asking.",
        );
      }
      const { dlqCommand } = await import("./commands/dlq.ts");
      return dlqCommand(
        {
          dir,
          queue,
          purge: values.purge === true,
          yes: values.yes === true,
          limit,
          url: values.url as string | undefined,
        },
        output,
      );
    },
  },
  emit: {
    help: emitHelp,
    options: { url: { type: "string" } },
    run: async (positionals, values, output) => {
      const [dir = ".", bus = "", entries = ""] = operands(
        positionals,
        2,
        "nimbus emit [dir] <bus> <json|@file>",
        emitHelp,
      );
      const { emitCommand } = await import("./commands/events.ts");
      await emitCommand({ dir, bus, entries, url: values.url as string | undefined }, output);
    },
  },
  trigger: {
    help: triggerHelp,
    options: { url: { type: "string" } },
    run: async (positionals, values, output) => {
      const [dir = ".", schedule = ""] = operands(positionals, 1, "nimbus trigger [dir] <schedule>", triggerHelp);
      const { triggerCommand } = await import("./commands/events.ts");
      await triggerCommand({ dir, schedule, url: values.url as string | undefined }, output);
    },
  },
  explain: {
    help: explainHelp,
    options: {},
    // 1 means "does not match", so scripts can tell it from a failure (as grep does).
    errorCode: 2,
    run: async (positionals, _values, output) => {
      // With two arguments the first is the rule, unless it names a folder: then one is missing.
      const missing =
        positionals.length === 2 && statSync(positionals[0]!, { throwIfNoEntry: false })?.isDirectory()
          ? ` ${positionals[0]} is a folder, so the rule or the event file is missing.`
          : "";
      const [dir = ".", rule = "", event = ""] = operands(
        positionals,
        2,
        "nimbus explain [dir] <bus>/<rule> <event.json>",
        explainHelp,
        missing,
      );
      const { explainCommand } = await import("./commands/explain.ts");
      return explainCommand({ dir, rule, event }, output);
    },
  },
  build: {
    help: buildHelp,
    options: { out: { type: "string" } },
    run: async ([dir = "."], values, output) => {
      const { buildCommand } = await import("./commands/build.ts");
      await buildCommand({ dir, out: values.out as string | undefined }, output);
    },
  },
  synth: {
    help: synthHelp,
    options: { target: { type: "string" }, out: { type: "string" } },
    run: async ([dir = "."], values, output) => {
      const { synthCommand } = await import("./commands/synth.ts");
      await synthCommand({ dir, target: values.target, out: values.out as string | undefined }, output);
    },
  },
  ...stackCommands(),
  graph: {
    help: graphHelp,
    options: {},
    run: async ([dir = "."], _values, output) => {
      const { graphCommand } = await import("./commands/graph.ts");
      await graphCommand({ dir }, output);
    },
  },
  schedule: {
    help: scheduleHelp,
    options: { count: { type: "string" }, from: { type: "string" } },
    run: async (positionals, values, output) => {
      const [action, ...rest] = positionals;
      if (action !== "next" || rest.length === 0 || rest.length > 2) {
        throw new NimbusError("NIMBUS_CLI_ARGS", `Expected \`nimbus schedule next [dir] <name>\`.\n\n${scheduleHelp}`);
      }
      const [dir, name] = rest.length === 2 ? [rest[0]!, rest[1]!] : [".", rest[0]!];
      const { parseScheduleOptions, scheduleNextCommand } = await import("./commands/schedule.ts");
      await scheduleNextCommand({ dir, name, ...parseScheduleOptions(values) }, output);
    },
  },
};

/** preview, deploy, destroy, outputs: one command each over a Pulumi stack of the docker target. */
function stackCommands(): Record<string, Command> {
  const actions = ["preview", "deploy", "destroy", "outputs"] as const;
  return Object.fromEntries(
    actions.map((action): [string, Command] => [
      action,
      {
        help: stackHelp(action),
        options: { stack: { type: "string" } },
        run: async ([dir = "."], values, output) => {
          const { stackCommand } = await import("./commands/stack.ts");
          return stackCommand({ action, dir, stack: String(values.stack ?? "dev") }, output);
        },
      },
    ]),
  );
}

/** Runs the CLI on `argv` (without node and the script); resolves with the exit code. */
export async function main(argv: readonly string[], output: Output = processOutput): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    output.out(usage);
    return name === undefined ? 1 : 0;
  }
  const command = commands[name];
  if (!command) {
    output.err(`✖ Unknown command "${name}".\n\n${usage}`);
    return 1;
  }
  try {
    const { positionals, values } = parseArgs({
      args: [...rest],
      options: { ...command.options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      output.out(command.help);
      return 0;
    }
    const code = await command.run(positionals, values, output);
    return typeof code === "number" ? code : 0;
  } catch (error) {
    if ((error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS")) {
      reportError(new NimbusError("NIMBUS_CLI_ARGS", `${(error as Error).message}\n\n${command.help}`), output);
    } else {
      reportError(error, output);
    }
    return command.errorCode ?? 1;
  }
}
