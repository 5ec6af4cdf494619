import { Bucket } from "../bucket/bucket.ts";
import type { BucketProps } from "../bucket/spec.ts";
import { Bus, type BusProps, type EventMap } from "../bus/bus.ts";
import type { ErrorCode } from "../errors/codes.ts";
import { GraphError, type GraphIssue } from "../errors/graph-error.ts";
import { type ConfigMap, type FunctionProps, FunctionResource, type LinkMap } from "../function/function.ts";
import { graphProblems } from "../graph/checks.ts";
import { compareResources, edgesOfAll } from "../graph/edges.ts";
import { type Graph, graphVersion, type Resource } from "../graph/schema.ts";
import { Queue, type QueueProps } from "../queue/queue.ts";
import { Schedule, type ScheduleProps } from "../schedule/schedule.ts";
import { describeResource, type ResourceKind, type ResourceRef } from "../spec/ref.ts";
import { fromZodIssues } from "../spec/zod-issues.ts";
import { type BuildContext, Construct } from "./construct.ts";

const appBrand = Symbol.for("nimbus.app");

/**
 * The root of an app: declare resources on it, export it as the default export of
 * `nimbus.app.ts`, and every target reads `app.toGraph()`.
 */
export class App {
  readonly [appBrand] = true;
  readonly name: string;
  readonly #constructs: Construct[] = [];

  /** @example new App("shop") */
  constructor(name: string) {
    this.name = name;
  }

  /** An object store. @example app.bucket("receipts") */
  bucket(name: string, props?: BucketProps): Bucket {
    return new Bucket(this, name, props);
  }

  /** A durable queue; `Body` types what is sent and consumed. @example app.queue<Order>("fulfilment", { deadLetter: true }) */
  queue<Body = unknown>(name: string, props?: QueueProps<Body>): Queue<Body> {
    return new Queue<Body>(this, name, props);
  }

  /** An event bus; `Events` maps each detail-type to its detail. @example app.bus<{ OrderPaid: { id: number } }>("orders") */
  bus<Events extends EventMap = Record<string, unknown>>(name: string, props?: BusProps<Events>): Bus<Events> {
    return new Bus<Events>(this, name, props);
  }

  /** A function. @example app.function("api", { handler: "./src/api.ts", routes: ["GET /orders/:id"], link: { orders } }) */
  function<
    const Links extends LinkMap = Record<never, never>,
    const Config extends ConfigMap = Record<never, never>,
    const Secret extends string = never,
  >(name: string, props: FunctionProps<Links, Config, Secret>): FunctionResource<Links, Config, Secret> {
    return new FunctionResource(this, name, props);
  }

  /** A timer. @example app.schedule("nightly-report", { cron: "0 2 * * *", timezone: "Europe/Berlin", target: report }) */
  schedule(name: string, props: ScheduleProps): Schedule {
    return new Schedule(this, name, props);
  }

  /** @internal Called by every construct's constructor. */
  register(construct: Construct): void {
    this.#constructs.push(construct);
  }

  /**
   * The app's resource graph: validated, normalised, sorted. Throws one `GraphError`
   * (code `NIMBUS_GRAPH_INVALID`) listing every problem found, including those of
   * `options.check` (loaders use it to report missing handler files in the same list).
   */
  toGraph(options: { check?: (resources: readonly Resource[]) => GraphIssue[] } = {}): Graph {
    const issues: GraphIssue[] = [];
    const resources: Resource[] = [];
    for (const construct of this.#constructs) {
      const spec = construct.build(this.#context(construct, issues));
      if (spec) resources.push({ kind: construct.kind, name: construct.name, spec } as Resource);
    }
    const declared = this.#constructs.map(({ kind, name }) => ({ kind, name }));
    issues.push(...graphProblems(this.name, resources, declared), ...(options.check?.(resources) ?? []));
    if (issues.length > 0) throw new GraphError(this.name, issues);
    resources.sort(compareResources);
    return { version: graphVersion, app: this.name, resources, edges: edgesOfAll(resources) };
  }

  #context(construct: Construct, issues: GraphIssue[]): BuildContext {
    const resource = describeResource(construct);
    return {
      issue: (code, field, message) => issues.push({ code, resource, field, message }),
      parse: (schema, value, code, prefix) => {
        const parsed = schema.safeParse(value, { reportInput: true });
        if (parsed.success) return parsed.data;
        issues.push(...fromZodIssues(parsed.error.issues, { code, resource, prefix }));
        return undefined;
      },
      ref: (value, field, allowed) => {
        const problem = this.#refProblem(value, allowed);
        if (problem) {
          issues.push({ code: problem.code, resource, field, message: problem.message });
          return undefined;
        }
        return { kind: (value as Construct).kind, name: (value as Construct).name };
      },
    };
  }

  #refProblem(value: unknown, allowed: readonly ResourceKind[]): { code: ErrorCode; message: string } | undefined {
    const expected = `expected a ${allowed.join(", ").replace(/, ([^,]*)$/, " or $1")} of app "${this.name}"`;
    if (!Construct.is(value)) {
      return {
        code: "NIMBUS_REF_INVALID",
        message: `${expected}; found ${value === undefined ? "nothing" : typeof value}. Pass the object the app returned, e.g. app.queue("jobs")`,
      };
    }
    if (value.app !== this) {
      return {
        code: "NIMBUS_REF_FOREIGN",
        message: `${expected}; found ${describeResource(value)} of app "${value.app.name}". Resources cannot be shared between apps: declare it on app "${this.name}"`,
      };
    }
    if (!allowed.includes(value.kind)) {
      return { code: "NIMBUS_REF_KIND", message: `${expected}; found ${describeResource(value)}` };
    }
    return undefined;
  }

  static is(value: unknown): value is App {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[appBrand] === true;
  }
}

export type { ResourceRef };
