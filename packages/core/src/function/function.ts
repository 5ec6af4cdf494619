import type { App } from "../app/app.ts";
import { type BuildContext, Construct } from "../app/construct.ts";
import type { Bucket } from "../bucket/bucket.ts";
import type { Bus } from "../bus/bus.ts";
import type { Queue } from "../queue/queue.ts";
import type { Duration } from "../units/duration.ts";
import type { Size } from "../units/size.ts";
import { parseRoute, type Route } from "./routes.ts";
import { type FunctionSpec, functionPropsSchema, type Isolation, type LinkSpec, type RouteSpec } from "./spec.ts";

/** A resource a function can link: it then gets a binding for it in `env`. */
export type Linkable = Bucket | Queue<any> | Bus<any> | FunctionResource<any, any, any>;
export type LinkMap = Record<string, Linkable>;
export type ConfigValue = string | number | boolean;
export type ConfigMap = Record<string, ConfigValue>;

export interface FunctionProps<Links extends LinkMap, Config extends ConfigMap, Secret extends string> {
  /**
   * The handler module, relative to the folder holding `nimbus.app.ts`. Its default
   * export is made with `defineHandler` from `@nimbus/runtime`.
   * @example "./src/api.ts"
   */
  handler: string;
  /**
   * HTTP routes served by the handler's `fetch`: a method (or `ANY`) and a path with
   * `:params` and an optional trailing `*`.
   * @default [] (reachable only through links, queues, rules and schedules)
   * @example ["GET /orders/:id", "POST /orders"]
   */
  routes?: Route[];
  /**
   * The resources this function may use. Each becomes a binding in `env` under its key;
   * nothing else is reachable.
   * @default {}
   * @example { orders, receipts }
   */
  link?: Links;
  /**
   * Longest run of one invocation; then it is cut off (HTTP 504) and retried where its trigger retries.
   * @default "10s"
   * @example "30s"
   */
  timeout?: Duration;
  /**
   * Most invocations running at once; more wait in a bounded queue, past it HTTP 503.
   * @default 10
   * @example 50
   */
  concurrency?: number;
  /**
   * Memory limit of the function's process or container.
   * @default "256MiB"
   * @example "1GiB"
   */
  memory?: Size;
  /**
   * Largest HTTP request body; a bigger one gets HTTP 413.
   * @default "6MiB"
   * @example "50MiB"
   */
  maxBodySize?: Size;
  /**
   * CPUs each of the function's containers may use when deployed; the emulator does not limit it.
   * @default 1
   * @example 0.5
   */
  cpu?: number;
  /**
   * Replicas of the function when deployed, balanced by the gateway; the emulator always
   * runs one (the value is still validated).
   * @default 1
   * @example 3
   */
  scale?: number;
  /**
   * How the deployed containers are isolated: `"gvisor"` runs them under gVisor's `runsc`
   * runtime, which the Docker host must have installed. The emulator ignores it (the value
   * is still validated).
   * @default "standard"
   * @example "gvisor"
   */
  isolation?: Isolation;
  /**
   * Plain values put in `env` under their keys.
   * @default {}
   * @example { currency: "EUR", freeShippingOver: 50 }
   */
  config?: Config;
  /**
   * Names of secrets put in `env` as strings: read from `.env` beside the app file in the
   * emulator, from Pulumi secrets when deployed.
   * @default []
   * @example ["STRIPE_KEY"]
   */
  secrets?: readonly Secret[];
}

/**
 * A function: one handler module serving HTTP routes, queue batches, events and schedule
 * ticks. (Not named `Function`, which would shadow the global.)
 */
export class FunctionResource<
  Links extends LinkMap = LinkMap,
  Config extends ConfigMap = ConfigMap,
  Secret extends string = string,
> extends Construct {
  readonly kind = "function" as const;
  /** Carry the binding types to `defineHandler`; never set at run time. */
  declare readonly __links: Links;
  declare readonly __config: Config;
  declare readonly __secret: Secret;
  readonly #props: FunctionProps<Links, Config, Secret>;

  constructor(app: App, name: string, props: FunctionProps<Links, Config, Secret>) {
    super(app, name);
    this.#props = props;
  }

  build(ctx: BuildContext): FunctionSpec | undefined {
    const props = ctx.parse(functionPropsSchema, this.#props ?? {}, "NIMBUS_FUNCTION_PROPS");

    const routes: RouteSpec[] = [];
    for (const [index, text] of (props?.routes ?? []).entries()) {
      const route = parseRoute(text);
      if (typeof route === "string") ctx.issue("NIMBUS_ROUTE_INVALID", `routes[${index}]`, route);
      else routes.push(route);
    }

    const links: LinkSpec[] = [];
    const link = this.#props?.link;
    if (link !== undefined && (typeof link !== "object" || link === null || Construct.is(link))) {
      ctx.issue(
        "NIMBUS_LINK_INVALID",
        "link",
        "expected an object of resources keyed by their env name, e.g. { orders, receipts }",
      );
    } else {
      for (const [name, resource] of Object.entries(link ?? {})) {
        const ref = ctx.ref(resource, `link.${name}`, ["bucket", "bus", "function", "queue"]);
        if (ref) links.push({ name, kind: ref.kind as LinkSpec["kind"], resource: ref.name });
      }
    }

    if (!props) return undefined;
    const handler = normaliseHandlerPath(props.handler);
    if (handler === undefined) {
      ctx.issue(
        "NIMBUS_HANDLER_PATH",
        "handler",
        `expected a path inside the app folder, relative to nimbus.app.ts, e.g. "./src/api.ts"; found "${props.handler}"`,
      );
      return undefined;
    }
    const { timeout, concurrency, memory, maxBodySize, cpu, scale, isolation, config, secrets } = props;
    links.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    return {
      handler,
      routes,
      links,
      timeout,
      concurrency,
      memory,
      maxBodySize,
      cpu,
      scale,
      isolation,
      config,
      secrets,
    };
  }
}

/** `./src//api.ts` → `src/api.ts`; undefined for absolute paths and paths that leave the app folder. */
function normaliseHandlerPath(path: string): string | undefined {
  const parts: string[] = [];
  if (path.startsWith("/") || /^[A-Za-z]:[\\/]/.test(path)) return undefined;
  for (const part of path.split(/[\\/]+/)) {
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (parts.pop() === undefined) return undefined;
    } else parts.push(part);
  }
  return parts.length === 0 ? undefined : parts.join("/");
}
