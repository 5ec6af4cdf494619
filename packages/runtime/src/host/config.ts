import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, resolve } from "node:path";
import {
  type FunctionSpec,
  type Graph,
  graphShapeIssues,
  NimbusError,
  type ResourceOf,
  resourcesOf,
} from "@nimbus/core";
import { readNatsVariables } from "./nats-variables.ts";

/** How the host reaches NATS (JetStream): the queues, the bus streams and the delivery queues. */
export interface NatsConfig {
  /** `nats://host:4222`, or several, comma-separated. */
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
}

/** How the host reaches the object store (the Nimbus store or any S3 endpoint). */
export interface S3Config {
  endpoint: string;
  /**
   * The endpoint presigned URLs point at: the store's address as their users (outside
   * the deployment) reach it, which may differ from this host's. @default `endpoint`
   */
  presignEndpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /**
   * Who publishes the bucket notifications. `"store"`: the Nimbus store, from its outbox,
   * for every write whatever made it. `"bindings"`: this host, after each put and delete
   * through a binding succeeded, for any other S3 endpoint; a write that bypasses the
   * bindings (the aws CLI, another tool) does not notify.
   */
  notify: "store" | "bindings";
}

interface CommonConfig {
  /** The graph, or the slice of it this host needs. */
  graph: Graph;
  nats: NatsConfig;
  /** Put before every physical name (streams, buckets) with a `-`: the stage and app. */
  prefix?: string;
}

/** A host serving one function: its routes on a port, its queue, event and schedule deliveries. */
export interface FunctionRoleConfig extends CommonConfig {
  role: "function";
  name: string;
  spec: FunctionSpec;
  /** Absolute path of the function's bundled ESM handler module. */
  handler: string;
  port: number;
  hostname: string;
  s3?: S3Config;
  /** Base URL of each function this one links, by function name. */
  functionUrls: Record<string, string>;
  /** The secrets the function declares, read from the variables of the same names. */
  secrets: Record<string, string>;
  /** Secrets the function declares that no variable sets: warned about at start, absent from `env`. */
  missingSecrets: string[];
}

/** The host that routes bus events, fires schedules, relays bucket notifications and moves dead letters. */
export interface ControlRoleConfig extends CommonConfig {
  role: "control";
  /** The port of the health endpoints. */
  port: number;
  hostname: string;
}

/**
 * A one-shot run that creates or updates every stream, consumer and KV bucket of the
 * graph (provision.ts) as the admin user, then exits: the function and control users may
 * create nothing, so a deployment runs it before their hosts start.
 */
export interface ProvisionRoleConfig extends CommonConfig {
  role: "provision";
}

export type HostConfig = FunctionRoleConfig | ControlRoleConfig | ProvisionRoleConfig;

/** The variables the host reads, each with what it holds, for messages. */
export const hostVariables = {
  NIMBUS_ROLE: '"function", "control" or "provision"',
  NIMBUS_GRAPH: "the app's graph as JSON (nimbus synth's output), or the slice of it this host needs",
  NIMBUS_GRAPH_FILE:
    "the path of a file holding NIMBUS_GRAPH's JSON (instead of it: a big app's graph exceeds what one variable may hold)",
  NIMBUS_FUNCTION: "the name of the function this host serves (role function)",
  NIMBUS_HANDLER: "the path of the function's bundled ESM handler module (role function)",
  NIMBUS_PORT: "the HTTP port, 0 to 65535 (default 8080)",
  NIMBUS_HOSTNAME: "the address to listen on (default 0.0.0.0)",
  NIMBUS_NATS_URL: "the NATS server, e.g. nats://nats:4222 (several: comma-separated)",
  NIMBUS_NATS_USER: "the NATS user (optional)",
  NIMBUS_NATS_PASSWORD: "the NATS user's password (optional)",
  NIMBUS_NATS_TOKEN: "a NATS token (optional)",
  NIMBUS_PREFIX: "the prefix of physical names, the stage and app, e.g. prod-shop (optional)",
  NIMBUS_S3_ENDPOINT: "the object store's S3 endpoint, e.g. http://store:9000 (when the function links a bucket)",
  NIMBUS_S3_PRESIGN_ENDPOINT:
    "the object store's address as the users of presigned URLs reach it, e.g. http://127.0.0.1:9000 (default NIMBUS_S3_ENDPOINT)",
  NIMBUS_S3_REGION: "the S3 region (default us-east-1)",
  NIMBUS_S3_ACCESS_KEY_ID: "the function's access key for the object store",
  NIMBUS_S3_SECRET_ACCESS_KEY: "the function's secret key for the object store",
  NIMBUS_S3_NOTIFY:
    '"store" (the Nimbus store publishes bucket notifications; the default) or "bindings" (this host publishes them after each write through a binding: for any other S3 endpoint)',
  NIMBUS_FUNCTION_URLS: 'the base URL of each linked function as JSON, e.g. {"billing":"http://billing:8080"}',
} as const;

type Variable = keyof typeof hostVariables;
type Env = Readonly<Record<string, string | undefined>>;

/** Whether `text` is an absolute http or https URL with a host. */
function isHttpUrl(text: unknown): text is string {
  if (typeof text !== "string") return false;
  try {
    const url = new URL(text);
    return (url.protocol === "http:" || url.protocol === "https:") && url.hostname !== "";
  } catch {
    return false;
  }
}

/**
 * Reads the host's configuration from the environment, all of it at once: every problem
 * is reported, each naming the variable, what it should hold and how to fix it, in one
 * `NIMBUS_HOST_CONFIG` error.
 */
export function readConfig(env: Env = process.env, cwd = process.cwd()): HostConfig {
  const problems: string[] = [];
  const problem = (variable: Variable, found: string, fix?: string) =>
    problems.push(`${variable} ${found}; expected ${hostVariables[variable]}.${fix ? ` ${fix}` : ""}`);
  const text = (variable: Variable): string | undefined => {
    const value = env[variable]?.trim();
    return value === "" ? undefined : value;
  };
  const required = (variable: Variable): string | undefined => {
    const value = text(variable);
    if (value === undefined) problem(variable, "is not set", `Set ${variable}.`);
    return value;
  };

  const role = required("NIMBUS_ROLE");
  if (role !== undefined && role !== "function" && role !== "control" && role !== "provision") {
    problem("NIMBUS_ROLE", `is "${role}"`);
  }

  const graph = readGraph(graphText(text("NIMBUS_GRAPH"), text("NIMBUS_GRAPH_FILE"), problem), problems);
  const nats = readNats(
    required("NIMBUS_NATS_URL"),
    text("NIMBUS_NATS_USER"),
    text("NIMBUS_NATS_PASSWORD"),
    text("NIMBUS_NATS_TOKEN"),
    problem,
  );
  const port = readPort(text("NIMBUS_PORT"), problem);
  const hostname = text("NIMBUS_HOSTNAME") ?? "0.0.0.0";
  const prefix = text("NIMBUS_PREFIX");

  if (role === "control") {
    return finish(problems, () => ({ role, graph: graph!, nats: nats!, prefix, port, hostname }));
  }
  if (role === "provision") {
    return finish(problems, () => ({ role, graph: graph!, nats: nats!, prefix }));
  }
  if (role !== "function") return finish(problems, () => undefined as never);

  const name = required("NIMBUS_FUNCTION");
  const fn = graph && name !== undefined ? findFunction(graph, name, problem) : undefined;
  const handlerText = required("NIMBUS_HANDLER");
  const handler =
    handlerText === undefined ? undefined : isAbsolute(handlerText) ? handlerText : resolve(cwd, handlerText);
  if (handler !== undefined && !existsSync(handler)) {
    problem(
      "NIMBUS_HANDLER",
      `is "${handlerText}", which does not exist`,
      "Point it at the function's bundle (a .js or .mjs file).",
    );
  }

  const links = fn?.spec.links ?? [];
  for (const link of links) {
    if (link.kind === "function" || !graph) continue;
    if (graph.resources.some((resource) => resource.kind === link.kind && resource.name === link.resource)) continue;
    problem(
      "NIMBUS_GRAPH",
      `has no ${link.kind} "${link.resource}", which function "${name}" links (as env.${link.name})`,
      "Give the host a graph (or slice) that includes every resource the function links.",
    );
  }
  let s3: S3Config | undefined;
  const bucket = links.find((link) => link.kind === "bucket");
  if (bucket) {
    const because = `Function "${name}" links bucket "${bucket.resource}" (as env.${bucket.name}).`;
    const needed = (variable: Variable) => {
      const value = text(variable);
      if (value === undefined) problem(variable, "is not set", because);
      return value;
    };
    const endpoint = needed("NIMBUS_S3_ENDPOINT");
    if (endpoint !== undefined && !URL.canParse(endpoint))
      problem("NIMBUS_S3_ENDPOINT", `is "${endpoint}", which is not a URL`);
    const presignEndpoint = readHttpUrl("NIMBUS_S3_PRESIGN_ENDPOINT", text("NIMBUS_S3_PRESIGN_ENDPOINT"), problem);
    const accessKeyId = needed("NIMBUS_S3_ACCESS_KEY_ID");
    const secretAccessKey = needed("NIMBUS_S3_SECRET_ACCESS_KEY");
    const notify = text("NIMBUS_S3_NOTIFY") ?? "store";
    if (notify !== "store" && notify !== "bindings") problem("NIMBUS_S3_NOTIFY", `is "${notify}"`);
    if (notify === "bindings" && graph) missingNotifiedBuses(graph, links, problem);
    s3 = {
      endpoint: endpoint ?? "",
      presignEndpoint: presignEndpoint ?? endpoint ?? "",
      region: text("NIMBUS_S3_REGION") ?? "us-east-1",
      accessKeyId: accessKeyId ?? "",
      secretAccessKey: secretAccessKey ?? "",
      notify: notify === "bindings" ? "bindings" : "store",
    };
  }

  const functionUrls = readFunctionUrls(text("NIMBUS_FUNCTION_URLS"), problem);
  for (const link of links) {
    if (link.kind !== "function" || functionUrls === undefined || functionUrls[link.resource] !== undefined) continue;
    problem(
      "NIMBUS_FUNCTION_URLS",
      `has no URL for function "${link.resource}"`,
      `Function "${name}" links it (as env.${link.name}); add "${link.resource}": "http://<its host>:<port>".`,
    );
  }

  const secrets: Record<string, string> = {};
  const missingSecrets: string[] = [];
  for (const secret of fn?.spec.secrets ?? []) {
    const value = env[secret];
    if (value === undefined) missingSecrets.push(secret);
    else secrets[secret] = value;
  }

  return finish(problems, () => ({
    role,
    graph: graph!,
    nats: nats!,
    prefix,
    name: name!,
    spec: fn!.spec,
    handler: handler!,
    port,
    hostname,
    s3,
    functionUrls: functionUrls ?? {},
    secrets,
    missingSecrets,
  }));
}

/** With NIMBUS_S3_NOTIFY=bindings the host checks each event against its bus's schema: every notified bus must be in the graph. */
function missingNotifiedBuses(graph: Graph, links: FunctionSpec["links"], problem: Problem): void {
  const buses = new Set(resourcesOf(graph, "bus").map((bus) => bus.name));
  for (const link of links) {
    if (link.kind !== "bucket") continue;
    const bucket = resourcesOf(graph, "bucket").find((resource) => resource.name === link.resource);
    for (const notification of bucket?.spec.notifications ?? []) {
      if (buses.has(notification.bus)) continue;
      problem(
        "NIMBUS_GRAPH",
        `has no bus "${notification.bus}", which bucket "${link.resource}" notifies (NIMBUS_S3_NOTIFY is "bindings", so this host publishes its events)`,
        "Give the host a graph (or slice) that includes the buses its buckets notify.",
      );
    }
  }
}

function finish<T>(problems: string[], build: () => T): T {
  if (problems.length > 0) {
    throw new NimbusError(
      "NIMBUS_HOST_CONFIG",
      `the host's environment is not valid:\n${problems.map((problem) => `  - ${problem}`).join("\n")}`,
    );
  }
  return build();
}

type Problem = (variable: Variable, found: string, fix?: string) => void;

function readGraph(text: string | undefined, problems: string[]): Graph | undefined {
  if (text === undefined) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    problems.push(
      `NIMBUS_GRAPH is not JSON (${(error as Error).message}); expected ${hostVariables.NIMBUS_GRAPH}. Set it to the output of nimbus synth.`,
    );
    return undefined;
  }
  const issues = graphShapeIssues(json).slice(0, 5);
  if (issues.length === 0) return json as Graph;
  problems.push(
    `NIMBUS_GRAPH is not a graph of this version of Nimbus (${issues.join("; ")}); expected ${hostVariables.NIMBUS_GRAPH}. Synth the app again with the same Nimbus version as the host.`,
  );
  return undefined;
}

/** NIMBUS_GRAPH's text, or the contents of the file NIMBUS_GRAPH_FILE names; exactly one of them. */
function graphText(inline: string | undefined, file: string | undefined, problem: Problem): string | undefined {
  if (inline !== undefined && file !== undefined) {
    problem("NIMBUS_GRAPH_FILE", "is set as well as NIMBUS_GRAPH", "Set one of them.");
    return undefined;
  }
  if (file === undefined) {
    if (inline === undefined) problem("NIMBUS_GRAPH", "is not set", "Set NIMBUS_GRAPH or NIMBUS_GRAPH_FILE.");
    return inline;
  }
  try {
    return readFileSync(file, "utf8");
  } catch (error) {
    problem("NIMBUS_GRAPH_FILE", `is "${file}", which cannot be read (${(error as Error).message})`);
    return undefined;
  }
}

function findFunction(graph: Graph, name: string, problem: Problem): ResourceOf<"function"> | undefined {
  const functions = resourcesOf(graph, "function");
  const fn = functions.find((resource) => resource.name === name);
  if (!fn) {
    const known = functions.map((resource) => `"${resource.name}"`).join(", ") || "none";
    problem("NIMBUS_FUNCTION", `is "${name}", which NIMBUS_GRAPH does not hold (its functions: ${known})`);
  }
  return fn;
}

function readNats(
  url: string | undefined,
  user: string | undefined,
  pass: string | undefined,
  token: string | undefined,
  problem: Problem,
): NatsConfig | undefined {
  if (url === undefined) return undefined;
  return readNatsVariables(url, { user, pass, token }, problem);
}

function readPort(text: string | undefined, problem: Problem): number {
  if (text === undefined) return 8080;
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65_535) {
    problem("NIMBUS_PORT", `is "${text}"`);
    return 8080;
  }
  return port;
}

/** An http(s) URL, or undefined when the variable is not set (or not a URL: then a problem). */
function readHttpUrl(variable: Variable, text: string | undefined, problem: Problem): string | undefined {
  if (text === undefined) return undefined;
  if (isHttpUrl(text)) return text;
  problem(variable, `is "${text}", which is not an http or https URL`);
  return undefined;
}

function readFunctionUrls(text: string | undefined, problem: Problem): Record<string, string> | undefined {
  if (text === undefined) return {};
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    problem("NIMBUS_FUNCTION_URLS", `is not JSON (${(error as Error).message})`);
    return undefined;
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    problem("NIMBUS_FUNCTION_URLS", "is not a JSON object");
    return undefined;
  }
  for (const [name, url] of Object.entries(json)) {
    if (!isHttpUrl(url)) {
      problem("NIMBUS_FUNCTION_URLS", `has "${name}": ${JSON.stringify(url)}, which is not an http or https URL`);
      return undefined;
    }
  }
  return json as Record<string, string>;
}
