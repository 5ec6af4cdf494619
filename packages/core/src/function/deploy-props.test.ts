import { describe, expect, test } from "vitest";
import { App } from "../app/app.ts";
import { GraphError, type GraphIssue } from "../errors/graph-error.ts";
import { resourcesOf } from "../graph/resources.ts";

function issuesOf(app: App): GraphIssue[] {
  try {
    app.toGraph();
  } catch (error) {
    expect(GraphError.isGraphError(error)).toBe(true);
    return [...(error as GraphError).issues];
  }
  throw new Error("expected toGraph() to throw");
}

describe("function deploy props: cpu, scale, isolation", () => {
  test("toGraph: fills in cpu 1, scale 1 and isolation standard when left out", () => {
    const app = new App("a");
    app.function("fn", { handler: "fn.ts" });
    const [fn] = resourcesOf(app.toGraph(), "function");
    expect(fn?.spec).toMatchObject({ cpu: 1, scale: 1, isolation: "standard" });
  });

  test("toGraph: keeps the cpu, scale and isolation given", () => {
    const app = new App("a");
    app.function("fn", { handler: "fn.ts", cpu: 0.5, scale: 3, isolation: "gvisor" });
    const [fn] = resourcesOf(app.toGraph(), "function");
    expect(fn?.spec).toMatchObject({ cpu: 0.5, scale: 3, isolation: "gvisor" });
  });

  test("toGraph: a cpu, scale or isolation out of range fails, naming the field and the range", () => {
    const app = new App("a");
    app.function("fn", { handler: "fn.ts", cpu: 0, scale: 101, isolation: "kata" as never });
    const issues = issuesOf(app);
    const byField = new Map(issues.map((issue) => [issue.field, issue]));
    expect([...byField.keys()].sort()).toEqual(["cpu", "isolation", "scale"]);
    for (const issue of issues) expect(issue.resource).toBe('function "fn"');
    expect(byField.get("cpu")?.message).toBe("expected a number of CPUs from 0.1 to 64, e.g. 0.5 or 2; found 0");
    expect(byField.get("scale")?.message).toBe("expected a whole number from 1 to 100; found 101");
    expect(byField.get("isolation")?.message).toMatch(/expected one of "standard", "gvisor"/);
  });

  test("toGraph: a fractional scale fails", () => {
    const app = new App("a");
    app.function("fn", { handler: "fn.ts", scale: 1.5 });
    expect(issuesOf(app).map((issue) => [issue.field, issue.message])).toEqual([
      ["scale", "expected a whole number from 1 to 100; found 1.5"],
    ]);
  });
});
