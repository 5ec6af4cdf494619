import type { ErrorCode } from "../errors/codes.ts";
import type { GraphIssue } from "../errors/graph-error.ts";
import { formatRoute, routeShape, routesClash } from "../function/routes.ts";
import type { RouteSpec } from "../function/spec.ts";
import { patternProblems } from "../pattern/index.ts";
import { scheduleExpressionOf, scheduleProblems } from "../schedule/expression.ts";
import { dnsNameProblem } from "../spec/fields.ts";
import { describeResource, type ResourceRef } from "../spec/ref.ts";
import { formatDuration } from "../units/duration.ts";
import type { Resource, ResourceOf } from "./schema.ts";

/**
 * Checks that need the whole graph: names, references, consumers, dead-letter chains,
 * timeouts, routes, patterns and schedules. Runs on graphs built by `App` and on graphs
 * read back from JSON, so a target never trusts a hand-edited file.
 */
export function graphProblems(
  app: string,
  resources: readonly Resource[],
  /** Every declared resource, including those whose spec had problems: their names are checked too. */
  declared: readonly ResourceRef[] = resources,
): GraphIssue[] {
  const issues: GraphIssue[] = [];
  const report = (resource: ResourceRef | "app", code: ErrorCode, field: string, message: string) =>
    issues.push({ code, resource: resource === "app" ? `app "${app}"` : describeResource(resource), field, message });

  const appProblem = dnsNameProblem(app);
  if (appProblem) report("app", "NIMBUS_NAME_INVALID", "name", appProblem);

  const seen = new Set<string>();
  for (const resource of declared) {
    const id = `${resource.kind}:${resource.name}`;
    if (seen.has(id)) {
      report(
        resource,
        "NIMBUS_NAME_DUPLICATE",
        "name",
        `expected names unique among ${resource.kind}s; "${resource.name}" is declared twice${resource.kind === "queue" && resource.name.endsWith("-dlq") ? " (deadLetter: true also creates a queue named <queue>-dlq or <bus>-dlq)" : ""}. Rename one of them`,
      );
    }
    seen.add(id);
    const local = resource.kind === "rule" ? resource.name.slice(resource.name.indexOf("/") + 1) : resource.name;
    const problem = dnsNameProblem(local);
    if (problem) report(resource, "NIMBUS_NAME_INVALID", "name", problem);
  }
  const byKind = new Map<string, Map<string, Resource>>();
  for (const resource of resources) {
    const names = byKind.get(resource.kind) ?? new Map<string, Resource>();
    byKind.set(resource.kind, names);
    names.set(resource.name, resource);
  }
  const find = <K extends Resource["kind"]>(kind: K, name: string) =>
    byKind.get(kind)?.get(name) as ResourceOf<K> | undefined;
  const exists = (owner: Resource, field: string, ref: ResourceRef) => {
    if (find(ref.kind, ref.name)) return true;
    report(
      owner,
      "NIMBUS_REF_MISSING",
      field,
      `expected ${describeResource(ref)} to exist in app "${app}"; it is not declared`,
    );
    return false;
  };

  const functions = resources.filter((r): r is ResourceOf<"function"> => r.kind === "function");
  for (const fn of functions) checkFunction(fn, report, exists);
  checkRoutes(functions, report);

  for (const resource of resources) {
    switch (resource.kind) {
      case "queue": {
        const { consumer, deadLetter, visibilityTimeout } = resource.spec;
        if (deadLetter !== null) exists(resource, "deadLetter", { kind: "queue", name: deadLetter });
        if (consumer && exists(resource, "subscribe", { kind: "function", name: consumer.function })) {
          const fn = find("function", consumer.function)!;
          if (visibilityTimeout < fn.spec.timeout) {
            report(
              resource,
              "NIMBUS_QUEUE_VISIBILITY",
              "visibilityTimeout",
              `expected at least the consumer's timeout (function "${fn.name}": ${formatDuration(fn.spec.timeout)}); found ${formatDuration(visibilityTimeout)}, so a message could be delivered again while it is still being handled. Raise visibilityTimeout to "${formatDuration(fn.spec.timeout)}" or more, or lower the function's timeout`,
            );
          }
        }
        break;
      }
      case "bus":
        if (resource.spec.deadLetter !== null)
          exists(resource, "deadLetter", { kind: "queue", name: resource.spec.deadLetter });
        break;
      case "bucket":
        for (const [i, n] of resource.spec.notifications.entries()) {
          exists(resource, `notify[${i}]`, { kind: "bus", name: n.bus });
        }
        break;
      case "rule": {
        exists(resource, "bus", { kind: "bus", name: resource.spec.bus });
        resource.spec.targets.forEach((target, i) => {
          if (!exists(resource, `targets[${i}]`, target)) return;
          if (target.kind === "bus" && target.name === resource.spec.bus) {
            report(
              resource,
              "NIMBUS_RULE_LOOP",
              `targets[${i}]`,
              `expected a target other than the rule's own bus "${target.name}": every matching event would be put back on it forever. Target another bus, a queue or a function`,
            );
          }
        });
        for (const problem of patternProblems(resource.spec.pattern)) {
          report(
            resource,
            "NIMBUS_PATTERN_INVALID",
            problem.path ? `pattern.${problem.path}` : "pattern",
            problem.message,
          );
        }
        break;
      }
      case "schedule": {
        exists(resource, "target", resource.spec.target);
        for (const problem of scheduleProblems(scheduleExpressionOf(resource.spec))) {
          report(resource, "NIMBUS_SCHEDULE_INVALID", problem.field, problem.message);
        }
        break;
      }
    }
  }
  checkDeadLetterLoops(resources, report);
  return issues;
}

type Report = (resource: ResourceRef, code: ErrorCode, field: string, message: string) => void;

function checkFunction(
  fn: ResourceOf<"function">,
  report: Report,
  exists: (owner: Resource, field: string, ref: ResourceRef) => boolean,
) {
  const envNames = new Map<string, string>();
  const claim = (name: string, field: string) => {
    const earlier = envNames.get(name);
    if (earlier) {
      report(
        fn,
        "NIMBUS_ENV_CLASH",
        field,
        `expected each env name once; "${name}" is used by ${earlier} and ${field}. Rename the link key, config key or secret`,
      );
    }
    envNames.set(name, field);
  };
  for (const link of fn.spec.links) {
    exists(fn, `link.${link.name}`, { kind: link.kind, name: link.resource });
    claim(link.name, `link.${link.name}`);
  }
  for (const key of Object.keys(fn.spec.config)) claim(key, `config.${key}`);
  for (const secret of fn.spec.secrets) claim(secret, `secrets "${secret}"`);
}

function checkRoutes(functions: readonly ResourceOf<"function">[], report: Report) {
  // Routes can only clash within one path shape, so index by it: linear in the number of routes.
  const claimedByShape = new Map<string, { fn: string; route: RouteSpec }[]>();
  for (const fn of functions) {
    for (const [index, route] of fn.spec.routes.entries()) {
      const shape = routeShape(route);
      const claimed = claimedByShape.get(shape) ?? [];
      claimedByShape.set(shape, claimed);
      const clash = claimed.find((c) => routesClash(c.route, route));
      if (clash) {
        report(
          fn,
          "NIMBUS_ROUTE_CLASH",
          `routes[${index}]`,
          `expected each method and path to belong to one function; "${formatRoute(route)}" is also claimed by function "${clash.fn}" ("${formatRoute(clash.route)}"). Remove it from one of them or change its path`,
        );
      }
      claimed.push({ fn: fn.name, route });
    }
  }
}

function checkDeadLetterLoops(resources: readonly Resource[], report: Report) {
  const next = new Map<string, string>();
  for (const r of resources) if (r.kind === "queue" && r.spec.deadLetter !== null) next.set(r.name, r.spec.deadLetter);
  const reported = new Set<string>();
  for (const start of next.keys()) {
    const path = [start];
    let current = next.get(start);
    while (current !== undefined && !path.includes(current)) {
      path.push(current);
      current = next.get(current);
    }
    if (current === undefined) continue;
    const loop = path.slice(path.indexOf(current));
    const key = [...loop].sort().join(",");
    if (reported.has(key)) continue;
    reported.add(key);
    report(
      { kind: "queue", name: current },
      "NIMBUS_DEAD_LETTER_LOOP",
      "deadLetter",
      `expected dead-letter queues to end somewhere; ${[...loop, current].map((q) => `"${q}"`).join(" → ")} is a loop, so a failing message would never stop. Give the last queue no deadLetter`,
    );
  }
}
