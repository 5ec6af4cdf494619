/**
 * Every error code of Nimbus, by area: who is at fault (`kind`), the HTTP status an
 * endpoint of ours answers with (`status`), and one line on what it means (`summary`).
 * Codes are stable across releases; a new one is added here before it is thrown.
 * Codes marked `graph` are reported as `GraphIssue`s (collected into one
 * `NIMBUS_GRAPH_INVALID`), not thrown on their own.
 */

/** `user` errors are the author's to fix and print without a stack; `system` ones are ours or the machine's. */
export type ErrorKind = "user" | "system";

/** What the catalogue knows of one code. */
export interface ErrorCodeInfo {
  readonly kind: ErrorKind;
  /** What the emulator's control API (and any endpoint of ours) answers with. */
  readonly status: number;
  /** One line: what went wrong. */
  readonly summary: string;
  /** Reported as a `GraphIssue` while a graph is built or loaded. */
  readonly graph?: true;
}

type Area = Readonly<Record<string, ErrorCodeInfo>>;

const user = "user";
const system = "system";

/** Building and validating the graph. */
export const graphCodes = {
  NIMBUS_GRAPH_INVALID: { kind: user, status: 400, summary: "the app's graph has problems; `issues` lists each" },
  NIMBUS_GRAPH_SCHEMA: {
    kind: user,
    status: 400,
    summary: "a graph read back from JSON does not match the schema",
    graph: true,
  },
  NIMBUS_GRAPH_EDGES: {
    kind: user,
    status: 400,
    summary: "a graph read back from JSON has edges that do not follow from its resources",
    graph: true,
  },
  NIMBUS_NAME_INVALID: {
    kind: user,
    status: 400,
    summary: "an app or resource name is not a DNS-safe name",
    graph: true,
  },
  NIMBUS_NAME_DUPLICATE: { kind: user, status: 400, summary: "two resources of one kind share a name", graph: true },
  NIMBUS_REF_INVALID: { kind: user, status: 400, summary: "a reference is not a construct", graph: true },
  NIMBUS_REF_FOREIGN: { kind: user, status: 400, summary: "a reference is a construct of another app", graph: true },
  NIMBUS_REF_KIND: {
    kind: user,
    status: 400,
    summary: "a reference is a resource of a kind the field does not take",
    graph: true,
  },
  NIMBUS_REF_MISSING: {
    kind: user,
    status: 400,
    summary: "a reference names a resource the graph does not hold",
    graph: true,
  },
  NIMBUS_ENV_CLASH: {
    kind: user,
    status: 400,
    summary: "two links, config values or secrets of a function share an env name",
    graph: true,
  },
  NIMBUS_ROUTE_INVALID: { kind: user, status: 400, summary: "a route is not `METHOD /path`", graph: true },
  NIMBUS_ROUTE_CLASH: { kind: user, status: 400, summary: "two functions serve the same route", graph: true },
  NIMBUS_LINK_INVALID: {
    kind: user,
    status: 400,
    summary: "a function's `link` is not an object of resources",
    graph: true,
  },
  NIMBUS_HANDLER_PATH: { kind: user, status: 400, summary: "a handler path leaves the app folder", graph: true },
  NIMBUS_HANDLER_MISSING: { kind: user, status: 400, summary: "a handler module does not exist", graph: true },
  NIMBUS_DEAD_LETTER_LOOP: { kind: user, status: 400, summary: "dead-letter queues form a cycle", graph: true },
  NIMBUS_SCHEMA_INVALID: { kind: user, status: 400, summary: "a `schema` prop is not a zod schema", graph: true },
  NIMBUS_SCHEMA_UNREPRESENTABLE: {
    kind: user,
    status: 400,
    summary: "a zod schema cannot be stored as JSON Schema",
    graph: true,
  },
} as const satisfies Area;

/** Functions: props, builds, loading. */
export const functionCodes = {
  NIMBUS_FUNCTION_PROPS: { kind: user, status: 400, summary: "a function's props are invalid", graph: true },
  NIMBUS_FUNCTION_BUILD: { kind: user, status: 400, summary: "a function's handler does not build" },
  NIMBUS_FUNCTION_LOAD: { kind: user, status: 500, summary: "a function's module failed to load in its worker" },
  NIMBUS_FUNCTION_LOOP: {
    kind: user,
    status: 508,
    summary: "a delivery was stopped: its chain of invocations, each caused by the one before, reached 16",
  },
} as const satisfies Area;

/** Buckets: props, keys, arguments, conditions, uploads, and the S3 store behind a deployed bucket. */
export const bucketCodes = {
  NIMBUS_BUCKET_PROPS: { kind: user, status: 400, summary: "a bucket's props are invalid", graph: true },
  NIMBUS_BUCKET_NOTIFY: {
    kind: user,
    status: 400,
    summary: "a bucket notification's options are invalid",
    graph: true,
  },
  NIMBUS_BUCKET_KEY: { kind: user, status: 400, summary: "an object key is empty, too long or not valid UTF-8" },
  NIMBUS_BUCKET_ARGUMENT: { kind: user, status: 400, summary: "a bucket method got an argument it does not take" },
  NIMBUS_BUCKET_PRECONDITION: { kind: user, status: 412, summary: "a write's or read's condition (etag, date) failed" },
  NIMBUS_BUCKET_SOURCE_PRECONDITION: { kind: user, status: 412, summary: "a copy's condition on its source failed" },
  NIMBUS_BUCKET_RANGE: { kind: user, status: 416, summary: "a byte range lies outside the object" },
  NIMBUS_BUCKET_TOO_LARGE: { kind: user, status: 413, summary: "an object or part is larger than the bucket takes" },
  NIMBUS_BUCKET_BAD_DIGEST: { kind: user, status: 400, summary: "a body does not match the checksum sent with it" },
  NIMBUS_BUCKET_NO_SUCH_KEY: { kind: user, status: 404, summary: "the object does not exist" },
  NIMBUS_BUCKET_NO_SUCH_UPLOAD: {
    kind: user,
    status: 404,
    summary: "the multipart upload does not exist or has ended",
  },
  NIMBUS_BUCKET_PART: { kind: user, status: 400, summary: "a completed upload names a part that was not uploaded" },
  NIMBUS_BUCKET_PART_ORDER: { kind: user, status: 400, summary: "a completed upload lists its parts out of order" },
  NIMBUS_BUCKET_PART_TOO_SMALL: {
    kind: user,
    status: 400,
    summary: "a part before the last is smaller than the minimum",
  },
  NIMBUS_BUCKET_BODY: { kind: user, status: 400, summary: "a body could not be read, or ended early" },
  NIMBUS_BUCKET_STORE_ACCESS: {
    kind: user,
    status: 403,
    summary: "the S3 store refused the function's credentials or rights",
  },
  NIMBUS_BUCKET_STORE_NO_BUCKET: {
    kind: user,
    status: 404,
    summary: "the physical bucket does not exist in the S3 store",
  },
  NIMBUS_BUCKET_STORE_UNREACHABLE: { kind: system, status: 502, summary: "the S3 store could not be reached" },
  NIMBUS_BUCKET_STORE: { kind: system, status: 502, summary: "the S3 store failed in another way" },
} as const satisfies Area;

/** Queues: props, sends, the deployed host's queues. */
export const queueCodes = {
  NIMBUS_QUEUE_PROPS: { kind: user, status: 400, summary: "a queue's props are invalid", graph: true },
  NIMBUS_QUEUE_SUBSCRIBE: { kind: user, status: 400, summary: "a subscribe()'s options are invalid", graph: true },
  NIMBUS_QUEUE_TWO_CONSUMERS: { kind: user, status: 400, summary: "a queue has more than one consumer", graph: true },
  NIMBUS_QUEUE_BACKOFF: {
    kind: user,
    status: 400,
    summary: "a queue's back-off starts above its maximum",
    graph: true,
  },
  NIMBUS_QUEUE_VISIBILITY: {
    kind: user,
    status: 400,
    summary: "a queue's visibility timeout is shorter than its consumer's timeout",
    graph: true,
  },
  NIMBUS_QUEUE_BODY: {
    kind: user,
    status: 400,
    summary: "a message body cannot be sent (not JSON-serializable, or unreadable)",
  },
  NIMBUS_QUEUE_BATCH: { kind: user, status: 400, summary: "sendBatch got more messages than one batch takes" },
  NIMBUS_QUEUE_MESSAGE_TOO_LARGE: {
    kind: user,
    status: 400,
    summary: "a message is larger than the queue's maxMessageSize",
  },
  NIMBUS_QUEUE_DELAY: { kind: user, status: 400, summary: "a message's delay is outside 0s to 12h" },
  NIMBUS_QUEUE_SCHEMA: { kind: user, status: 400, summary: "a message body does not match the queue's schema" },
  NIMBUS_QUEUE_SEND: { kind: system, status: 502, summary: "the deployed queue could not store a send" },
  NIMBUS_QUEUE_NO_CONSUMER: {
    kind: user,
    status: 400,
    summary: "a queue the host was asked to consume has no consumer in the graph",
  },
  NIMBUS_QUEUE_UNKNOWN: { kind: user, status: 404, summary: "the host was given a queue the graph does not hold" },
} as const satisfies Area;

/** Buses, rules, events and patterns. */
export const busCodes = {
  NIMBUS_BUS_PROPS: { kind: user, status: 400, summary: "a bus's props are invalid", graph: true },
  NIMBUS_BUS_BACKOFF: { kind: user, status: 400, summary: "a bus's back-off starts above its maximum", graph: true },
  NIMBUS_BUS_ENTRIES: { kind: user, status: 400, summary: "a put's entries are not a list of 1 to 10 entries" },
  NIMBUS_BUS_ENTRY: { kind: user, status: 400, summary: "an entry misses a field or has one it does not take" },
  NIMBUS_BUS_ENTRY_TOO_LARGE: { kind: user, status: 400, summary: "an entry is larger than an event may be" },
  NIMBUS_BUS_SCHEMA: {
    kind: user,
    status: 400,
    summary: "an entry's detail does not match the bus's schema for its detail-type",
  },
  NIMBUS_BUS_HOPS: { kind: user, status: 400, summary: "an event passed through more buses than an event may" },
  NIMBUS_BUS_PUT: { kind: system, status: 502, summary: "the deployed bus could not store an entry" },
  NIMBUS_RULE_PROPS: { kind: user, status: 400, summary: "a rule's props are invalid", graph: true },
  NIMBUS_RULE_TARGETS: { kind: user, status: 400, summary: "a rule has no targets", graph: true },
  NIMBUS_RULE_LOOP: { kind: user, status: 400, summary: "rules forward events between buses in a cycle", graph: true },
  NIMBUS_PATTERN_INVALID: {
    kind: user,
    status: 400,
    summary: "an event pattern is invalid; `issues` lists each problem",
    graph: true,
  },
  NIMBUS_EVENT_TIME_INVALID: { kind: user, status: 400, summary: "an event's time is not a valid date" },
} as const satisfies Area;

/** Schedules. */
export const scheduleCodes = {
  NIMBUS_SCHEDULE_PROPS: { kind: user, status: 400, summary: "a schedule's props are invalid", graph: true },
  NIMBUS_SCHEDULE_INVALID: { kind: user, status: 400, summary: "a schedule expression is invalid", graph: true },
  NIMBUS_SCHEDULE_COUNT_INVALID: {
    kind: user,
    status: 400,
    summary: "nextRuns was asked for a count it does not give",
  },
  NIMBUS_SCHEDULE_DATE_INVALID: { kind: user, status: 400, summary: "nextRuns was given a start that is not a date" },
} as const satisfies Area;

/** The emulator: loading the app, its clock, its control API, its resources by name. */
export const emulatorCodes = {
  NIMBUS_APP_DIR_MISSING: { kind: user, status: 400, summary: "the app folder does not exist" },
  NIMBUS_APP_MISSING: { kind: user, status: 400, summary: "the app folder holds no nimbus.app.ts" },
  NIMBUS_APP_BUILD: { kind: user, status: 400, summary: "the app file does not build" },
  NIMBUS_APP_EXPORT: { kind: user, status: 400, summary: "the app file does not `export default` its App" },
  NIMBUS_APP_THROW: { kind: user, status: 400, summary: "the app file threw while it ran" },
  NIMBUS_EMULATOR_ALREADY_RUNNING: {
    kind: user,
    status: 409,
    summary: "another emulator already runs on the same state folder (a second nimbus dev on one app)",
  },
  NIMBUS_EMULATOR_PORT_IN_USE: { kind: user, status: 500, summary: "the port the emulator should listen on is taken" },
  NIMBUS_EMULATOR_HOST: {
    kind: user,
    status: 403,
    summary: "a request named a host the emulator does not serve (allow it with --allowed-hosts)",
  },
  NIMBUS_EMULATOR_UNSUPPORTED: { kind: user, status: 400, summary: "a binding call the emulator does not serve" },
  NIMBUS_EMULATOR_UNKNOWN_BUCKET: { kind: user, status: 404, summary: "the app has no bucket of that name" },
  NIMBUS_EMULATOR_UNKNOWN_BUS: { kind: user, status: 404, summary: "the app has no bus of that name" },
  NIMBUS_EMULATOR_UNKNOWN_FUNCTION: { kind: user, status: 404, summary: "the app has no function of that name" },
  NIMBUS_EMULATOR_UNKNOWN_QUEUE: { kind: user, status: 404, summary: "the app has no queue of that name" },
  NIMBUS_EMULATOR_UNKNOWN_SCHEDULE: { kind: user, status: 404, summary: "the app has no schedule of that name" },
  NIMBUS_CLOCK_REAL: { kind: user, status: 400, summary: "clock.advance() was called on the real clock" },
  NIMBUS_CLOCK_ADVANCE: { kind: user, status: 400, summary: "clock.advance() got something other than a duration" },
  NIMBUS_CONTROL_BODY: {
    kind: user,
    status: 400,
    summary: "a control API request's body is not what the endpoint takes",
  },
  NIMBUS_CONTROL_TOKEN: {
    kind: user,
    status: 401,
    summary: "a control API request lacks this run's token (x-nimbus-token, from the state folder's emulator.json)",
  },
  NIMBUS_CONTROL_ORIGIN: { kind: user, status: 403, summary: "a web page of another origin called the control API" },
  NIMBUS_CONTROL_NOT_FOUND: { kind: user, status: 404, summary: "no control API endpoint has that method and path" },
  NIMBUS_CONTROL_FAILED: {
    kind: system,
    status: 500,
    summary: "a control API request failed with an unexpected error",
  },
} as const satisfies Area;

/** The `nimbus` command. */
export const cliCodes = {
  NIMBUS_CLI_ARGS: { kind: user, status: 400, summary: "the command line has a missing, unknown or bad argument" },
  NIMBUS_CLI_NO_EMULATOR: { kind: user, status: 400, summary: "no emulator runs for the app (start nimbus dev)" },
  NIMBUS_CLI_CONFIRM: {
    kind: user,
    status: 400,
    summary: "a destructive command needs confirmation: a terminal to answer on, or --yes",
  },
  NIMBUS_CLI_INVOKE: { kind: user, status: 400, summary: "the emulator refused an invocation" },
  NIMBUS_CLI_ENTRIES_FILE: { kind: user, status: 400, summary: "an entries file cannot be read" },
  NIMBUS_CLI_EVENT_FILE: { kind: user, status: 400, summary: "an event file cannot be read" },
  NIMBUS_CLI_EVENT_JSON: { kind: user, status: 400, summary: "an event is not JSON" },
  NIMBUS_CLI_EVENT_SHAPE: { kind: user, status: 400, summary: "an event is not an object with the fields rules see" },
  NIMBUS_CLI_RULE_UNKNOWN: { kind: user, status: 404, summary: "the app has no such bus or rule" },
  NIMBUS_CLI_SCHEDULE_UNKNOWN: { kind: user, status: 404, summary: "the app has no schedule of that name" },
  NIMBUS_CLI_TARGET: {
    kind: user,
    status: 400,
    summary: "the deploy target named does not exist (only docker is built)",
  },
  NIMBUS_CLI_NO_PULUMI: { kind: user, status: 400, summary: "deploying needs the Pulumi CLI and none is on PATH" },
  NIMBUS_CLI_NO_DOCKER: { kind: user, status: 400, summary: "deploying needs a Docker engine and none answers" },
  NIMBUS_CLI_DEPLOY: {
    kind: user,
    status: 400,
    summary: "Pulumi reported a failed preview, update, destroy or output read",
  },
  NIMBUS_CLI_INIT_NOT_EMPTY: { kind: user, status: 409, summary: "nimbus init was pointed at a folder that has files" },
  NIMBUS_CLI_TEMPLATE: { kind: user, status: 404, summary: "nimbus init was given a template this CLI does not have" },
} as const satisfies Area;

/** Deploying: the targets and the deployed host. */
export const deployCodes = {
  NIMBUS_DEPLOY_NATS_CONFIG: {
    kind: user,
    status: 400,
    summary: "a value cannot be written into the NATS server's configuration",
  },
  NIMBUS_DEPLOY_PROVISION: {
    kind: user,
    status: 400,
    summary: "provisioning was given a graph that misses a delivery's function",
  },
  NIMBUS_DOCKER_CONFIG: { kind: user, status: 400, summary: "the docker target's stack config is invalid" },
  NIMBUS_DOCKER_BUNDLE: { kind: user, status: 400, summary: "the docker target was given no bundle for a function" },
  NIMBUS_DOCKER_SECRET: {
    kind: user,
    status: 400,
    summary: "a secret the app declares is not set in the stack's config",
  },
  NIMBUS_DOCKER_UNSUPPORTED: {
    kind: user,
    status: 400,
    summary: "the docker target cannot deploy a feature the app uses",
  },
  NIMBUS_HOST_CONFIG: { kind: user, status: 400, summary: "the host's environment variables are missing or invalid" },
} as const satisfies Area;

/** Every code, by name. */
export const errorCodes = {
  ...graphCodes,
  ...functionCodes,
  ...bucketCodes,
  ...queueCodes,
  ...busCodes,
  ...scheduleCodes,
  ...emulatorCodes,
  ...cliCodes,
  ...deployCodes,
} as const satisfies Readonly<Record<string, ErrorCodeInfo>>;

export type GraphErrorCode = keyof typeof graphCodes;
export type FunctionErrorCode = keyof typeof functionCodes;
export type BucketErrorCode = keyof typeof bucketCodes;
export type QueueErrorCode = keyof typeof queueCodes;
export type BusErrorCode = keyof typeof busCodes;
export type ScheduleErrorCode = keyof typeof scheduleCodes;
export type EmulatorErrorCode = keyof typeof emulatorCodes;
export type CliErrorCode = keyof typeof cliCodes;
export type DeployErrorCode = keyof typeof deployCodes;

/** Every error code of Nimbus: `NIMBUS_<AREA>_<WHAT>`. */
export type ErrorCode = keyof typeof errorCodes;

/** Whether `value` is a code of the catalogue, e.g. one read back from a worker's message. */
export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === "string" && Object.hasOwn(errorCodes, value);
}

/** The HTTP status for `code`: the one map every endpoint of ours answers with; 500 for a code it does not know. */
export function httpStatus(code: string): number {
  return isErrorCode(code) ? errorCodes[code].status : 500;
}
