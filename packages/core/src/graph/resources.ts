import type { ResourceKind } from "../spec/ref.ts";
import type { Graph, ResourceOf } from "./schema.ts";

/** The graph's resources of one kind, in graph order: `resourcesOf(graph, "queue")`. */
export function resourcesOf<K extends ResourceKind>(graph: Graph, kind: K): ResourceOf<K>[] {
  return graph.resources.filter((resource): resource is ResourceOf<K> => resource.kind === kind);
}
