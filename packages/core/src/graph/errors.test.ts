import { describe, expect, it } from "vitest";
import { App } from "../app/app.ts";
import { GraphError, type GraphIssue } from "../errors/graph-error.ts";
import { NimbusError } from "../errors/nimbus-error.ts";
import { serializeGraph, validateGraph } from "./validate.ts";

/** The issues `toGraph` throws, failing the test when it does not throw a GraphError. */
function issuesOf(app: App): GraphIssue[] {
  try {
    app.toGraph();
  } catch (error) {
    expect(GraphError.isGraphError(error)).toBe(true);
    expect((error as GraphError).code).toBe("NIMBUS_GRAPH_INVALID");
    return [...(error as GraphError).issues];
  }
  throw new Error("expected toGraph() to throw");
}

describe("graph errors", () => {
  it("toGraph: reports a name used twice within a kind, but allows it across kinds", () => {
    const app = new App("a");
    app.queue("jobs");
    app.queue("jobs");
    app.bucket("jobs");
    const issues = issuesOf(app);
    expect(issues).toEqual([
      expect.objectContaining({ code: "NIMBUS_NAME_DUPLICATE", resource: 'queue "jobs"', field: "name" }),
    ]);
    expect(issues[0]?.message).toMatch(/unique among queues; "jobs" is declared twice.*Rename/);
  });

  it("toGraph: reports the queue that deadLetter: true adds when its name is taken", () => {
    const app = new App("a");
    app.queue("jobs", { deadLetter: true });
    app.queue("jobs-dlq");
    expect(issuesOf(app)[0]?.message).toMatch(/deadLetter: true also creates a queue named <queue>-dlq/);
  });

  it("toGraph: reports names that are not DNS-safe, with a suggestion", () => {
    const app = new App("My_App");
    app.bucket("Receipts");
    app.queue("-jobs");
    app.bus("x".repeat(64));
    const bus = app.bus("orders");
    bus.rule("Paid!", { pattern: { source: ["a"] }, targets: [bus.app.queue("q")] });
    const issues = issuesOf(app);
    expect(issues.map((i) => [i.code, i.resource, i.field])).toEqual([
      ["NIMBUS_NAME_INVALID", 'app "My_App"', "name"],
      ["NIMBUS_NAME_INVALID", 'bucket "Receipts"', "name"],
      ["NIMBUS_NAME_INVALID", 'queue "-jobs"', "name"],
      ["NIMBUS_NAME_INVALID", `bus "${"x".repeat(64)}"`, "name"],
      ["NIMBUS_NAME_INVALID", 'rule "orders/Paid!"', "name"],
    ]);
    expect(issues[1]?.message).toMatch(/DNS-safe.*found "Receipts". Try "receipts"/);
  });

  it("toGraph: refuses links and targets that belong to another app", () => {
    const other = new App("other");
    const foreignQueue = other.queue("jobs");
    const foreignFn = other.function("worker", { handler: "w.ts" });
    const app = new App("mine");
    app.function("api", { handler: "api.ts", link: { jobs: foreignQueue } });
    app.schedule("tick", { every: "5m", target: foreignFn });
    app.bus("events").rule("all", { pattern: { source: ["x"] }, targets: [foreignQueue] });
    const issues = issuesOf(app);
    expect(issues.map((i) => [i.code, i.resource, i.field])).toEqual([
      ["NIMBUS_REF_FOREIGN", 'function "api"', "link.jobs"],
      ["NIMBUS_REF_FOREIGN", 'schedule "tick"', "target"],
      ["NIMBUS_REF_FOREIGN", 'rule "events/all"', "targets[0]"],
    ]);
    expect(issues[0]?.message).toBe(
      'expected a bucket, bus, function or queue of app "mine"; found queue "jobs" of app "other". Resources cannot be shared between apps: declare it on app "mine"',
    );
  });

  it("toGraph: refuses a second consumer on one queue", () => {
    const app = new App("a");
    const jobs = app.queue("jobs");
    jobs.subscribe(app.function("one", { handler: "one.ts" }));
    jobs.subscribe(app.function("two", { handler: "two.ts" }));
    expect(issuesOf(app)).toEqual([
      {
        code: "NIMBUS_QUEUE_TWO_CONSUMERS",
        resource: 'queue "jobs"',
        field: "subscribe",
        message:
          'expected one consumer; found 2 ("one", "two"). A queue has one consumer: remove all but one subscribe(), or put a bus in front to fan out',
      },
    ]);
  });

  it("validateGraph: refuses a dead-letter loop in a hand-edited graph", () => {
    // The API cannot build a loop: a queue's deadLetter must already exist when it is declared.
    const app = new App("a");
    const last = app.queue("last");
    app.queue("first", { deadLetter: last });
    const graph = JSON.parse(serializeGraph(app.toGraph()));
    const lastSpec = graph.resources.find((r: { name: string }) => r.name === "last").spec;
    lastSpec.deadLetter = "first";
    graph.edges.push({ kind: "dead-letter", from: "queue:last", to: "queue:first" });
    graph.edges.sort((a: { from: string }, b: { from: string }) => (a.from < b.from ? -1 : 1));
    expect(() => validateGraph(graph)).toThrow(/"first" → "last" → "first" is a loop/);
  });

  it("toGraph: refuses a visibility timeout shorter than the consumer's timeout", () => {
    const app = new App("a");
    const jobs = app.queue("jobs", { visibilityTimeout: "10s" });
    jobs.subscribe(app.function("slow", { handler: "slow.ts", timeout: "1m" }));
    const [issue] = issuesOf(app);
    expect(issue).toMatchObject({
      code: "NIMBUS_QUEUE_VISIBILITY",
      resource: 'queue "jobs"',
      field: "visibilityTimeout",
    });
    expect(issue?.message).toMatch(
      /at least the consumer's timeout \(function "slow": 1m\); found 10s.*Raise visibilityTimeout to "1m"/,
    );
  });

  it("toGraph: reports malformed routes and two functions claiming one method and path", () => {
    const app = new App("a");
    app.function("one", { handler: "one.ts", routes: ["GET /orders/:id", "GET orders"] as never });
    app.function("two", { handler: "two.ts", routes: ["GET /orders/:orderId", "ANY /health"] });
    app.function("three", { handler: "three.ts", routes: ["POST /health"] });
    const issues = issuesOf(app);
    expect(issues.map((i) => [i.code, i.resource, i.field])).toEqual([
      ["NIMBUS_ROUTE_INVALID", 'function "one"', "routes[1]"],
      ["NIMBUS_ROUTE_CLASH", 'function "two"', "routes[0]"],
      ["NIMBUS_ROUTE_CLASH", 'function "three"', "routes[0]"],
    ]);
    expect(issues[1]?.message).toMatch(
      /"GET \/orders\/:orderId" is also claimed by function "one" \("GET \/orders\/:id"\)/,
    );
  });

  it("toGraph: reports invalid cron and rate expressions and unknown time zones", () => {
    const app = new App("a");
    const fn = app.function("fn", { handler: "fn.ts" });
    app.schedule("bad-cron", { cron: "0 2 * *", target: fn });
    app.schedule("bad-rate", { rate: "rate(5 fortnights)", target: fn });
    app.schedule("bad-zone", { cron: "0 2 * * *", timezone: "Europe/Atlantis", target: fn });
    app.schedule("two-kinds", { cron: "0 2 * * *", every: "5m", target: fn });
    const issues = issuesOf(app);
    expect(issues.map((i) => [i.code, i.resource, i.field])).toEqual([
      ["NIMBUS_SCHEDULE_INVALID", 'schedule "bad-cron"', "cron"],
      ["NIMBUS_SCHEDULE_INVALID", 'schedule "bad-rate"', "rate"],
      ["NIMBUS_SCHEDULE_INVALID", 'schedule "bad-zone"', "timezone"],
      ["NIMBUS_SCHEDULE_INVALID", 'schedule "two-kinds"', ""],
    ]);
    expect(issues[2]?.message).toMatch(/Europe\/Atlantis/);
  });

  it("toGraph: reports an event pattern that is not a pattern, naming the path inside it", () => {
    const app = new App("a");
    const bus = app.bus("events");
    const q = app.queue("q");
    bus.rule("scalar", { pattern: { source: "shop.api" }, targets: [q] });
    bus.rule("operator", { pattern: { detail: { total: [{ numerc: [">", 0] }] } }, targets: [q] });
    bus.rule("not-object", { pattern: ["shop.api"] as never, targets: [q] });
    const issues = issuesOf(app);
    expect(issues.map((i) => [i.code, i.resource, i.field])).toEqual([
      ["NIMBUS_PATTERN_INVALID", 'rule "events/not-object"', "pattern"],
      ["NIMBUS_PATTERN_INVALID", 'rule "events/scalar"', "pattern.source"],
      ["NIMBUS_PATTERN_INVALID", 'rule "events/operator"', expect.stringMatching(/^pattern\.detail\.total/)],
    ]);
  });

  it("toGraph: reports durations and sizes that do not parse or fall outside their range", () => {
    const app = new App("a");
    app.queue("q", {
      visibilityTimeout: "30 secs" as never,
      retention: "30 days" as never,
      maxMessageSize: "2MiB",
      delivery: { maxAttempts: 0, backoff: { initial: "soon" as never } },
    });
    app.function("fn", { handler: "fn.ts", timeout: "1h", memory: "lots" as never, maxBodySize: "0B" });
    const issues = issuesOf(app);
    expect(issues.map((i) => [i.resource, i.field])).toEqual([
      ['queue "q"', "visibilityTimeout"],
      ['queue "q"', "delivery.maxAttempts"],
      ['queue "q"', "delivery.backoff.initial"],
      ['queue "q"', "retention"],
      ['queue "q"', "maxMessageSize"],
      ['function "fn"', "timeout"],
      ['function "fn"', "memory"],
      ['function "fn"', "maxBodySize"],
    ]);
    const byField = new Map(issues.map((i) => [`${i.resource} ${i.field}`, i.message]));
    expect(byField.get('queue "q" visibilityTimeout')).toBe(
      'expected a duration between 1s and 12h such as "30s" or "5 minutes"; found "30 secs"',
    );
    expect(byField.get('queue "q" retention')).toBe(
      'expected a duration between 1m and 14d; found "30 days". Use a value in that range, e.g. "4 days"',
    );
    expect(byField.get('queue "q" maxMessageSize')).toMatch(/between 1KiB and 1MiB; found "2MiB"/);
    expect(byField.get('queue "q" delivery.maxAttempts')).toBe("expected a whole number from 1 to 1000; found 0");
    expect(byField.get('function "fn" timeout')).toMatch(/between 1s and 15m; found "1h"/);
  });

  it("toGraph: suggests the closest prop for a misspelt one", () => {
    const app = new App("a");
    app.queue("q", { visibiltyTimeout: "30s" } as never);
    expect(issuesOf(app)).toEqual([
      expect.objectContaining({
        code: "NIMBUS_QUEUE_PROPS",
        field: "visibiltyTimeout",
        message: expect.stringMatching(/^unknown prop "visibiltyTimeout"; did you mean "visibilityTimeout"\?/),
      }),
    ]);
  });

  it("toGraph: reports an env name used by a link, a config key and a secret", () => {
    const app = new App("a");
    const orders = app.bus("orders");
    app.function("fn", { handler: "fn.ts", link: { orders }, config: { orders: "x" }, secrets: ["orders"] });
    expect(issuesOf(app).map((i) => [i.code, i.field])).toEqual([
      ["NIMBUS_ENV_CLASH", "config.orders"],
      ["NIMBUS_ENV_CLASH", 'secrets "orders"'],
    ]);
  });

  it("toGraph: reports a rule that targets its own bus", () => {
    const app = new App("a");
    const bus = app.bus("events");
    bus.rule("echo", { pattern: { source: ["x"] }, targets: [bus] });
    expect(issuesOf(app)).toEqual([expect.objectContaining({ code: "NIMBUS_RULE_LOOP", field: "targets[0]" })]);
  });

  it("toGraph: reports handler paths that leave the app folder", () => {
    const app = new App("a");
    app.function("fn", { handler: "../elsewhere/fn.ts" });
    app.function("abs", { handler: "/etc/passwd" });
    expect(issuesOf(app).map((i) => [i.code, i.resource])).toEqual([
      ["NIMBUS_HANDLER_PATH", 'function "fn"'],
      ["NIMBUS_HANDLER_PATH", 'function "abs"'],
    ]);
  });

  it("toGraph: reports every problem at once in one error whose message lists them", () => {
    const app = new App("a");
    app.queue("Bad Name", { visibilityTimeout: "forever" as never });
    app.function("fn", { handler: "fn.ts", routes: ["nope"] as never });
    let error: unknown;
    try {
      app.toGraph();
    } catch (caught) {
      error = caught;
    }
    expect(NimbusError.is(error)).toBe(true);
    const graphError = error as GraphError;
    expect(graphError.issues).toHaveLength(3);
    expect(graphError.message).toMatch(
      /^App "a" has 3 problems:\n {2}- queue "Bad Name", visibilityTimeout: expected a duration/,
    );
  });

  it("validateGraph: names the resource and field of a malformed spec", () => {
    const app = new App("a");
    app.queue("jobs");
    const graph = JSON.parse(serializeGraph(app.toGraph()));
    graph.resources[0].spec.visibilityTimeout = "30s";
    expect(() => validateGraph(graph)).toThrow(/queue "jobs", visibilityTimeout: expected a number; found "30s"/);
  });

  it("validateGraph: refuses edges that do not match the specs", () => {
    const app = new App("a");
    app.queue("jobs");
    const graph = JSON.parse(serializeGraph(app.toGraph()));
    graph.edges.push({ kind: "link", from: "function:x", to: "queue:jobs" });
    expect(() => validateGraph(graph)).toThrow(/Regenerate it with `nimbus graph`/);
  });
});
