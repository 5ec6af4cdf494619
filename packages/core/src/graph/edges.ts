import { resourceId } from "../spec/ref.ts";
import type { Edge, Resource } from "./schema.ts";

/** The edges a resource's spec implies; edges are derived, never stored apart from specs. */
export function edgesOf(resource: Resource): Edge[] {
  const from = resourceId(resource);
  switch (resource.kind) {
    case "function":
      return resource.spec.links.map((link) => ({
        kind: "link",
        from,
        to: resourceId({ kind: link.kind, name: link.resource }),
      }));
    case "queue": {
      const edges: Edge[] = [];
      if (resource.spec.consumer) {
        edges.push({
          kind: "subscription",
          from,
          to: resourceId({ kind: "function", name: resource.spec.consumer.function }),
        });
      }
      if (resource.spec.deadLetter !== null) {
        edges.push({ kind: "dead-letter", from, to: resourceId({ kind: "queue", name: resource.spec.deadLetter }) });
      }
      return edges;
    }
    case "bucket":
      return resource.spec.notifications.map((n) => ({
        kind: "notification",
        from,
        to: resourceId({ kind: "bus", name: n.bus }),
      }));
    case "rule":
      return resource.spec.targets.map((target) => ({ kind: "rule-target", from, to: resourceId(target) }));
    case "schedule":
      return [{ kind: "schedule-target", from, to: resourceId(resource.spec.target) }];
    case "bus":
      return resource.spec.deadLetter === null
        ? []
        : [{ kind: "dead-letter", from, to: resourceId({ kind: "queue", name: resource.spec.deadLetter }) }];
  }
}

const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export function compareResources(a: Resource, b: Resource): number {
  return compare(a.kind, b.kind) || compare(a.name, b.name);
}

export function compareEdges(a: Edge, b: Edge): number {
  return compare(a.kind, b.kind) || compare(a.from, b.from) || compare(a.to, b.to);
}

/** Every edge of the resources, sorted and without repeats. */
export function edgesOfAll(resources: readonly Resource[]): Edge[] {
  const seen = new Set<string>();
  const edges: Edge[] = [];
  for (const edge of resources.flatMap(edgesOf)) {
    const key = `${edge.kind} ${edge.from} ${edge.to}`;
    if (seen.has(key)) continue;
    seen.add(key);
    edges.push(edge);
  }
  return edges.sort(compareEdges);
}
