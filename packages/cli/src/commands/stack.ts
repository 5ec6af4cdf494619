import { randomBytes } from "node:crypto";
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { request } from "node:http";
import { connect } from "node:net";
import { delimiter, join } from "node:path";
import { NimbusError } from "@nimbus/core";
import { DockerApp, readProject, stackOutputs } from "@nimbus/deploy-docker";
import type { Output } from "../output.ts";
import { defaultProjectDir, synth } from "./synth.ts";

/** What `nimbus <action>` does to a stack. */
export const stackActions = ["preview", "deploy", "destroy", "outputs"] as const;
export type StackAction = (typeof stackActions)[number];

/** The default engine address, as the Docker CLI and the Pulumi provider use it. */
const defaultDockerHost = "unix:///var/run/docker.sock";

/** The first executable `name` on `PATH`, as `which` finds it. */
export function findOnPath(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

/**
 * Why no Docker engine answers at `DOCKER_HOST` (or the default socket), or undefined
 * when one does. A Unix socket is pinged (`GET /_ping`); a TCP address is connected to;
 * other schemes (ssh://) are left for the provider to report.
 */
export async function dockerEngineProblem(
  host = process.env.DOCKER_HOST || defaultDockerHost,
): Promise<string | undefined> {
  const timeoutMs = 3_000;
  if (host.startsWith("unix://")) {
    const socketPath = host.slice("unix://".length);
    return new Promise((resolve) => {
      const req = request({ socketPath, path: "/_ping", timeout: timeoutMs }, (res) => {
        res.resume();
        resolve(res.statusCode === 200 ? undefined : `its ping answered ${res.statusCode}`);
      });
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
      req.on("error", (error: NodeJS.ErrnoException) =>
        resolve(
          error.code === "ENOENT"
            ? `${socketPath} does not exist`
            : error.code === "EACCES"
              ? `${socketPath} refuses this user (add it to the docker group: sudo usermod -aG docker $USER, then log in again)`
              : error.message,
        ),
      );
      req.end();
    });
  }
  if (host.startsWith("tcp://")) {
    const url = new URL(host.replace(/^tcp:/, "http:"));
    return new Promise((resolve) => {
      const socket = connect({ host: url.hostname, port: Number(url.port || 2375), timeout: timeoutMs });
      socket.on("connect", () => {
        socket.destroy();
        resolve(undefined);
      });
      socket.on("timeout", () => socket.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
      socket.on("error", (error) => resolve(error.message));
    });
  }
  return undefined;
}

/**
 * What the action needs and this machine lacks: the Pulumi CLI on PATH always, and a
 * Docker engine for anything that reads or changes containers. Each problem says what is
 * missing and how to get it.
 */
export async function preflight(action: StackAction, env: NodeJS.ProcessEnv = process.env): Promise<NimbusError[]> {
  const problems: NimbusError[] = [];
  if (!findOnPath("pulumi", env.PATH)) {
    problems.push(
      new NimbusError(
        "NIMBUS_CLI_NO_PULUMI",
        `nimbus ${action} needs the Pulumi CLI, and no \`pulumi\` is on PATH. Install it from https://www.pulumi.com/docs/install/ (e.g. curl -fsSL https://get.pulumi.com | sh), then run \`pulumi login --local\` to keep the stacks' state on this machine (or \`pulumi login\` for Pulumi Cloud).`,
      ),
    );
  }
  if (action !== "outputs") {
    const host = env.DOCKER_HOST || undefined;
    const problem = await dockerEngineProblem(host ?? defaultDockerHost);
    if (problem) {
      const where = host ? `${host} (DOCKER_HOST)` : `${defaultDockerHost} (the default; DOCKER_HOST is not set)`;
      problems.push(
        new NimbusError(
          "NIMBUS_CLI_NO_DOCKER",
          `nimbus ${action} needs a running Docker engine, and none answers at ${where}: ${problem}. Start it (sudo systemctl start docker, or sudo dockerd &), or point DOCKER_HOST at an engine that runs, e.g. DOCKER_HOST=ssh://user@host.`,
        ),
      );
    }
  }
  return problems;
}

export interface StackCommandArgs {
  action: StackAction;
  /** The folder holding nimbus.app.ts. */
  dir: string;
  /** The Pulumi stack, which is also the stage every physical name starts with. */
  stack: string;
}

/**
 * `nimbus preview | deploy | destroy | outputs [dir] --stack <name>`: checks the machine,
 * synthesizes the app's project into `<dir>/.nimbus/deploy/docker` (where the stack's
 * settings are kept), and drives the user's `pulumi` through the Automation API with the
 * app as an inline program, printing Pulumi's progress. Resolves with the exit code: 2
 * when the machine lacks Pulumi or a Docker engine.
 */
export async function stackCommand(args: StackCommandArgs, output: Output): Promise<number> {
  const problems = await preflight(args.action);
  if (problems.length > 0) {
    for (const problem of problems) output.err(`✖ ${problem.message}`);
    return 2;
  }
  const projectDir = defaultProjectDir(args.dir);
  // destroy and outputs need the project's name only, and must work on an app that no longer builds.
  if (args.action === "preview" || args.action === "deploy" || !existsSync(join(projectDir, "Pulumi.yaml"))) {
    await synth({ dir: args.dir, out: projectDir });
  }
  const project = readProject(projectDir);
  const { automation } = await import("@pulumi/pulumi");
  const program = async () => {
    const app = new DockerApp(project.graph.app, project);
    return Object.fromEntries(stackOutputs.map((name) => [name, app[name]]));
  };
  const stack = await automation.LocalWorkspace.createOrSelectStack(
    { stackName: args.stack, projectName: project.graph.app, program },
    { workDir: projectDir },
  );
  const onOutput = lineWriter(output);
  const run = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
    try {
      return await step();
    } catch (error) {
      onOutput.flush();
      throw new NimbusError(
        "NIMBUS_CLI_DEPLOY",
        `pulumi ${what} of stack "${args.stack}" (app "${project.graph.app}") failed; Pulumi said:\n${(error as Error).message.trim()}`,
        { cause: error },
      );
    }
  };

  if (args.action === "preview" || args.action === "deploy") {
    const config = await stack.getAllConfig();
    if (config["nimbus:credentialSeed"] === undefined) {
      await stack.setConfig("nimbus:credentialSeed", { value: randomBytes(32).toString("hex"), secret: true });
      output.out(
        `Generated nimbus:credentialSeed for stack "${args.stack}" (encrypted in ${join(projectDir, `Pulumi.${args.stack}.yaml`)}); the NATS passwords and store keys derive from it.`,
      );
    }
  }
  if (args.action === "preview") {
    await run("preview", () => stack.preview({ onOutput }));
    onOutput.flush();
  } else if (args.action === "deploy") {
    const result = await run("up", () => stack.up({ onOutput }));
    onOutput.flush();
    output.out(formatOutputs(result.outputs));
  } else if (args.action === "destroy") {
    await run("destroy", () => stack.destroy({ onOutput }));
    onOutput.flush();
  } else {
    output.out(formatOutputs(await run("stack output", () => stack.outputs())));
  }
  return 0;
}

/** The stack's outputs, one a line; a secret's value is not printed. */
function formatOutputs(outputs: Record<string, { value: unknown; secret: boolean }>): string {
  const names = Object.keys(outputs).sort();
  if (names.length === 0) return "The stack has no outputs (it is not deployed).";
  return names
    .map((name) => {
      const { value, secret } = outputs[name]!;
      return `${name}: ${secret ? "[secret]" : typeof value === "string" ? value : JSON.stringify(value)}`;
    })
    .join("\n");
}

/** Pulumi's output comes in pieces; print whole lines as they complete. */
function lineWriter(output: Output): ((text: string) => void) & { flush(): void } {
  let pending = "";
  const write = (text: string) => {
    pending += text;
    const end = pending.lastIndexOf("\n");
    if (end < 0) return;
    output.out(pending.slice(0, end));
    pending = pending.slice(end + 1);
  };
  return Object.assign(write, {
    flush() {
      if (pending !== "") output.out(pending);
      pending = "";
    },
  });
}
