import { readFileSync } from "node:fs";
import { type Graph, graphSchema, NimbusError, type StoreBucket, storeBuckets } from "@nimbus/core";
import { readNatsVariables } from "@nimbus/runtime/target";
import { z } from "zod";
import type { S3AccessKey } from "../s3/server.ts";

/** How the store service reaches NATS, to publish bucket notifications on the buses' streams. */
export interface StoreNatsConfig {
  servers: string[];
  user?: string;
  pass?: string;
  token?: string;
}

/** Everything the store service runs with, read from its environment by {@link readStoreConfig}. */
export interface StoreServiceConfig {
  hostname: string;
  port: number;
  /** The folder that holds the buckets (`<data>/buckets/<name>/`). */
  dataDir: string;
  /** Every bucket the store serves, with its notifications. */
  buckets: StoreBucket[];
  keys: S3AccessKey[];
  region: string;
  /** fsync every write before it is acknowledged. */
  durable: boolean;
  /** Set when a bucket has notifications to publish. */
  nats?: StoreNatsConfig;
}

/** The variables the service reads, each with what it holds, for messages. */
export const storeVariables = {
  NIMBUS_STORE_LISTEN: "the address to serve S3 on, host:port (default 127.0.0.1:9000)",
  NIMBUS_STORE_DATA: "the folder that holds the buckets, e.g. /data (on a volume)",
  NIMBUS_STORE_BUCKETS: "the store names of the buckets to serve, comma-separated (besides the graph's)",
  NIMBUS_STORE_KEYS:
    'the access keys as JSON: [{"accessKeyId":"…","secretAccessKey":"…","buckets":["uploads"] or "*"}]',
  NIMBUS_STORE_KEYS_FILE: "the path of a file holding NIMBUS_STORE_KEYS's JSON (instead of it)",
  NIMBUS_STORE_REGION: "the region the store reports (default us-east-1)",
  NIMBUS_STORE_DURABLE: '"true" (default) to fsync every write before answering, or "false"',
  NIMBUS_GRAPH: "the app's graph as JSON (nimbus synth's output), for its buckets and their notifications (optional)",
  NIMBUS_GRAPH_FILE: "the path of a file holding NIMBUS_GRAPH's JSON (instead of it)",
  NIMBUS_PREFIX: "the prefix of physical names, the stage and app, e.g. prod-shop (optional)",
  NIMBUS_NATS_URL: "the NATS server, e.g. nats://nats:4222 (needed when a bucket has notifications)",
  NIMBUS_NATS_USER: "the NATS user (optional)",
  NIMBUS_NATS_PASSWORD: "the NATS user's password (optional)",
  NIMBUS_NATS_TOKEN: "a NATS token (optional)",
} as const;

type Variable = keyof typeof storeVariables;
type Env = Readonly<Record<string, string | undefined>>;

/** S3's bucket naming rules (general purpose buckets). */
const bucketName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, "is not an S3 bucket name (3 to 63 of a-z, 0-9, . and -)");

const keysSchema = z
  .array(
    z.strictObject({
      accessKeyId: z.string().min(3),
      secretAccessKey: z.string().min(8),
      buckets: z.union([z.literal("*"), z.array(bucketName)]),
    }),
  )
  .min(1, "holds no key");

/**
 * Reads the service's configuration from the environment, all of it at once: every
 * problem is reported, each naming the variable, what it should hold and how to fix
 * it, in one `NIMBUS_HOST_CONFIG` error.
 */
export function readStoreConfig(env: Env = process.env): StoreServiceConfig {
  const problems: string[] = [];
  const problem = (variable: Variable, found: string, fix?: string) =>
    problems.push(`${variable} ${found}; expected ${storeVariables[variable]}.${fix ? ` ${fix}` : ""}`);
  const text = (variable: Variable): string | undefined => {
    const value = env[variable]?.trim();
    return value === "" ? undefined : value;
  };
  /** The variable's text, or the contents of the file its `_FILE` twin names. */
  const inlineOrFile = (variable: Variable, fileVariable: Variable): string | undefined => {
    const inline = text(variable);
    const file = text(fileVariable);
    if (inline !== undefined && file !== undefined) {
      problem(fileVariable, `is set as well as ${variable}`, "Set one of them.");
      return undefined;
    }
    if (file === undefined) return inline;
    try {
      return readFileSync(file, "utf8");
    } catch (error) {
      problem(fileVariable, `is "${file}", which cannot be read (${(error as Error).message})`);
      return undefined;
    }
  };
  const json = (variable: Variable, value: string): unknown => {
    try {
      return JSON.parse(value);
    } catch (error) {
      problem(variable, `is not JSON (${(error as Error).message})`);
      return undefined;
    }
  };
  const issues = (error: z.ZodError) =>
    error.issues
      .slice(0, 5)
      .map((issue) => `${issue.path.map(String).join(".") || "(top)"} ${issue.message}`)
      .join("; ");

  const listen = text("NIMBUS_STORE_LISTEN") ?? "127.0.0.1:9000";
  const at = listen.lastIndexOf(":");
  const hostname = listen.slice(0, at).replace(/^\[(.*)\]$/, "$1");
  const port = Number(listen.slice(at + 1));
  if (at <= 0 || !/^\d+$/.test(listen.slice(at + 1)) || port > 65_535) {
    problem("NIMBUS_STORE_LISTEN", `is "${listen}"`, "Write it as host:port, e.g. 0.0.0.0:9000.");
  }

  const dataDir = text("NIMBUS_STORE_DATA");
  if (dataDir === undefined) problem("NIMBUS_STORE_DATA", "is not set", "Set it to a folder on a volume.");

  const prefix = text("NIMBUS_PREFIX");
  let graph: Graph | undefined;
  const graphText = inlineOrFile("NIMBUS_GRAPH", "NIMBUS_GRAPH_FILE");
  if (graphText !== undefined) {
    const raw = json("NIMBUS_GRAPH", graphText);
    if (raw !== undefined) {
      const parsed = graphSchema.safeParse(raw);
      if (parsed.success) graph = parsed.data;
      else {
        problem(
          "NIMBUS_GRAPH",
          `is not a graph of this version of Nimbus (${issues(parsed.error)})`,
          "Synth the app again with the same Nimbus version as the store.",
        );
      }
    }
  }
  const buckets = graph ? storeBuckets(graph, prefix ? { prefix } : {}) : [];
  for (const name of (text("NIMBUS_STORE_BUCKETS") ?? "").split(",")) {
    const trimmed = name.trim();
    if (trimmed === "" || buckets.some((bucket) => bucket.name === trimmed)) continue;
    const parsed = bucketName.safeParse(trimmed);
    if (!parsed.success) problem("NIMBUS_STORE_BUCKETS", `names "${trimmed}", which ${issues(parsed.error)}`);
    buckets.push({ name: trimmed, bucket: trimmed, notifications: [] });
  }
  if (buckets.length === 0) {
    problem("NIMBUS_STORE_BUCKETS", "is not set and no graph names a bucket", "Set one of them.");
  }

  let keys: S3AccessKey[] = [];
  const keysText = inlineOrFile("NIMBUS_STORE_KEYS", "NIMBUS_STORE_KEYS_FILE");
  if (keysText === undefined) {
    if (!problems.some((p) => p.startsWith("NIMBUS_STORE_KEYS_FILE"))) {
      problem("NIMBUS_STORE_KEYS", "is not set", "Set it, or NIMBUS_STORE_KEYS_FILE.");
    }
  } else {
    const raw = json("NIMBUS_STORE_KEYS", keysText);
    if (raw !== undefined) {
      const parsed = keysSchema.safeParse(raw);
      if (parsed.success) keys = parsed.data;
      else problem("NIMBUS_STORE_KEYS", `is not a list of keys (${issues(parsed.error)})`);
    }
  }
  const ids = keys.map((key) => key.accessKeyId);
  const repeated = ids.find((id, index) => ids.indexOf(id) !== index);
  if (repeated !== undefined) problem("NIMBUS_STORE_KEYS", `holds key "${repeated}" twice`, "Give each key one entry.");

  const durableText = text("NIMBUS_STORE_DURABLE") ?? "true";
  if (durableText !== "true" && durableText !== "false") problem("NIMBUS_STORE_DURABLE", `is "${durableText}"`);

  let nats: StoreNatsConfig | undefined;
  const notifying = buckets.filter((bucket) => bucket.notifications.length > 0);
  const url = text("NIMBUS_NATS_URL");
  if (url !== undefined) {
    const credentials = {
      user: text("NIMBUS_NATS_USER"),
      pass: text("NIMBUS_NATS_PASSWORD"),
      token: text("NIMBUS_NATS_TOKEN"),
    };
    nats = readNatsVariables(url, credentials, problem);
  } else if (notifying.length > 0) {
    problem(
      "NIMBUS_NATS_URL",
      "is not set",
      `Bucket${notifying.length === 1 ? "" : "s"} ${notifying.map((bucket) => `"${bucket.bucket}"`).join(", ")} notif${notifying.length === 1 ? "ies" : "y"} a bus; set it to the app's NATS server.`,
    );
  }

  if (problems.length > 0) {
    throw new NimbusError(
      "NIMBUS_HOST_CONFIG",
      `the store service's environment is not valid:\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
  }
  return {
    hostname,
    port,
    dataDir: dataDir!,
    buckets,
    keys,
    region: text("NIMBUS_STORE_REGION") ?? "us-east-1",
    durable: durableText === "true",
    nats,
  };
}
