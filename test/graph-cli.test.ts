import { readFileSync } from "node:fs";
import { join } from "node:path";
import { validateGraph } from "@nimbus/core";
import { describe, expect, it } from "vitest";
import { repoRoot, runCli } from "./support/cli.ts";

describe("nimbus graph", () => {
  it("graph: prints the shop example's graph as valid JSON and exits 0", () => {
    const result = runCli(["graph", "examples/shop"]);
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const graph = validateGraph(JSON.parse(result.stdout));
    expect(graph.app).toBe("shop");
    expect(graph.resources.map((r) => `${r.kind}:${r.name}`)).toContain("rule:orders/paid");
  });

  it("graph: prints byte-identical output on every run", () => {
    const first = runCli(["graph", "examples/shop"]).stdout;
    const second = runCli(["graph", join(repoRoot, "examples/shop")]).stdout;
    expect(first.length).toBeGreaterThan(0);
    expect(second).toBe(first);
  });

  it("graph: the app file exactly as the foundation issue writes it graphs cleanly", () => {
    const result = runCli(["graph", "test/fixtures/as-written"]);
    expect(result.status).toBe(0);
    const shop = JSON.parse(runCli(["graph", "examples/shop"]).stdout);
    // The example adds types, the report's live route, the bus's dead-letter queue and the
    // mailer with its rule; otherwise both graphs are the same.
    type Node = { kind: string; name: string; spec: Record<string, unknown> };
    const report = shop.resources.find((r: Node) => r.name === "report");
    expect(report.spec.routes).toEqual([{ method: "GET", path: "/report" }]);
    report.spec.routes = [];
    const added = ["function:mailer", "rule:orders/receipt-written", "queue:orders-dlq"];
    const bus = shop.resources.find((r: Node) => r.kind === "bus");
    expect(bus.spec.deadLetter).toBe("orders-dlq");
    bus.spec.deadLetter = null;
    shop.resources = shop.resources.filter((r: Node) => !added.includes(`${r.kind}:${r.name}`));
    shop.edges = shop.edges.filter(
      (e: { from: string; to: string }) =>
        !added.includes(e.from) && !added.includes(e.to) && e.to !== "queue:orders-dlq",
    );
    expect(JSON.parse(result.stdout)).toEqual(shop);
  });

  it("graph: prints each problem without a stack and exits 1", () => {
    const result = runCli(["graph", "test/fixtures/broken"]);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe("");
    expect(result.stderr).toMatch(/^✖ 3 problems in the app:\n/);
    expect(result.stderr).toContain(
      '  • queue "jobs", visibilityTimeout: expected a duration between 1s and 12h such as "30s" or "5 minutes"; found "30 secs" [NIMBUS_QUEUE_PROPS]',
    );
    expect(result.stderr).toContain('function "api", handler: expected a handler module at src/missing.ts');
    expect(result.stderr).toContain('function "api", routes[0]: expected "<METHOD> /path"');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it("graph: says how to fix a folder without an app file and exits 1", () => {
    const result = runCli(["graph", "docs"]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/^✖ No nimbus.app.ts in .*docs. Create one/);
  });

  it("nimbus: an unknown command or option prints usage and exits 1", () => {
    const unknown = runCli(["grpah"]);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/Unknown command "grpah"/);
    const option = runCli(["graph", "--colour"]);
    expect(option.status).toBe(1);
    expect(option.stderr).toMatch(/Unknown option '--colour'/);
  });

  it("README: the quick start shows exactly two commands", () => {
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    const section = /## Quick start\n[\s\S]*?```sh\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
    const commands = section.split("\n").filter((line) => line.trim() && !line.trim().startsWith("#"));
    expect(commands).toEqual(["./pnpm install && ./pnpm nimbus dev examples/shop", "./pnpm install && ./pnpm test"]);
  });
});
