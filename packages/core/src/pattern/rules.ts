import { type BranchNode, pathLeaves } from "./branch.ts";
import type { CheckProgram, SlotLeaf } from "./checks.ts";
import { dottedKeyReader } from "./dotted-keys.ts";
import { compilePattern } from "./match.ts";
import { Projection } from "./projection.ts";
import {
  type Bucket,
  type Candidate,
  type ExactTable,
  Hits,
  IndexBuilder,
  type IndexKey,
  indexKey,
  type KeyField,
  type PrefixTable,
  probeExact,
  probePrefix,
} from "./tables.ts";
import type { CompiledRules, PatternRule } from "./types.ts";

/**
 * Matching many rules without trying each: like AWS's Ruler, rules are indexed by the values they
 * require. Each `$or` branch of each rule picks up to two fields it matches exactly (say `source`
 * and `detail-type`); branches that picked the same fields share a table, nested maps from those
 * fields' values to the branches. A branch without an exact field but with a `prefix` goes into a
 * prefix table instead. An event costs a few map lookups per table, and only the branches found
 * there are checked, without re-checking the fields the lookup already matched (see checks.ts).
 * Branches with neither are checked for every event. Every field path the index reads is read
 * once per event and shared (see projection.ts).
 */

/** Fields combined into one table; two covers the usual `source` + `detail-type`. */
const FIELDS_PER_TABLE = 2;
/** A branch listing many values for its key fields gets one entry per combination, up to this many. */
const MAX_ENTRIES_PER_BRANCH = 64;

/** Fields that every match of `node` needs a value for, by exact value or by prefix. */
function keyFields(node: BranchNode, prefix: readonly string[], into: { exact: KeyField[]; prefix: KeyField[] }) {
  for (const field of node.fields) {
    const segments = [...prefix, field.key];
    const id = JSON.stringify(segments);
    if (field.kind === "node") {
      // Values below a node that absence can satisfy are not required, so they cannot be keys.
      if (field.node.polarity === "positive") keyFields(field.node, segments, into);
    } else if (field.polarity === "positive") {
      const [test] = field.tests;
      const keys = test?.exact?.map(indexKey);
      if (field.tests.length === 1 && keys && !keys.includes(undefined)) {
        into.exact.push({ segments, id, keys: [...new Set(keys as IndexKey[])] });
      } else if (field.tests.every((candidate) => candidate.prefix !== undefined)) {
        into.prefix.push({ segments, id, keys: [...new Set(field.tests.map((candidate) => candidate.prefix ?? ""))] });
      }
    }
  }
  return into;
}

const byId = (a: KeyField, b: KeyField) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/**
 * The order a table looks its fields up in: shallow fields first, since a deeper one also costs a
 * probe for its dotted spellings (projection.ts), which an event missing on `source` then skips.
 */
const byDepth = (a: KeyField, b: KeyField) => a.segments.length - b.segments.length || byId(a, b);

/** Up to two of a branch's exact fields to look it up by. */
function chooseKeyFields(fields: readonly KeyField[], frequency: ReadonlyMap<string, number>): KeyField[] {
  // Prefer fields many rules share (so they share a table) and then the ones listing fewer values.
  const ranked = [...fields].sort(
    (a, b) => (frequency.get(b.id) ?? 0) - (frequency.get(a.id) ?? 0) || a.keys.length - b.keys.length || byId(a, b),
  );
  const chosen: KeyField[] = [];
  let entries = 1;
  for (const field of ranked) {
    if (chosen.length === FIELDS_PER_TABLE) break;
    if (chosen.some((other) => other.id === field.id) || entries * field.keys.length > MAX_ENTRIES_PER_BRANCH) continue;
    chosen.push(field);
    entries *= field.keys.length;
  }
  return chosen.sort(byDepth);
}

/** Everything `match` needs, and nothing that only building it needed. */
interface Index {
  names: readonly string[];
  projection: Projection;
  exact: readonly ExactTable[];
  prefix: readonly PrefixTable[];
  unindexed: Bucket;
  program: CheckProgram;
}

function buildIndex(rules: readonly PatternRule[]): Index {
  const projection = new Projection();
  const candidates: Candidate[] = [];
  rules.forEach((rule, index) => {
    const compiled = compilePattern(rule.pattern, `Rule "${rule.name}" pattern`);
    compiled.branches.forEach((node, i) => {
      candidates.push({
        rule: index,
        test: compiled.tests[i] as (event: unknown) => boolean,
        node,
        ...keyFields(node, [], { exact: [], prefix: [] }),
        rest: [],
      });
    });
  });

  const frequency = new Map<string, number>();
  for (const { exact } of candidates) {
    for (const id of new Set(exact.map((field) => field.id))) frequency.set(id, (frequency.get(id) ?? 0) + 1);
  }

  /** The branch's leaves other than the looked-up fields, each reading its slot. */
  const restOf = (node: BranchNode, looked: readonly KeyField[]): SlotLeaf[] => {
    const skip = new Set(looked.map((field) => field.id));
    const rest: SlotLeaf[] = [];
    for (const { parents, field } of pathLeaves(node, [], [])) {
      const segments = [...parents, field.key];
      if (!skip.has(JSON.stringify(segments))) rest.push({ slot: projection.slot(segments), field });
    }
    return rest;
  };

  const builder = new IndexBuilder();
  candidates.forEach((candidate, position) => {
    const chosen = chooseKeyFields(candidate.exact, frequency);
    const [byPrefix] = candidate.prefix;
    if (chosen.length > 0) {
      candidate.rest = restOf(candidate.node, chosen);
      const slots = chosen.map((field) => projection.slot(field.segments));
      builder.addExact(chosen, slots, position);
    } else if (byPrefix) {
      candidate.rest = restOf(candidate.node, [byPrefix]);
      builder.addPrefix(byPrefix, projection.slot(byPrefix.segments), position);
    } else {
      builder.unindexed.push(position);
    }
  });
  projection.readDottedKeys(dottedKeyReader(candidates.map((candidate) => candidate.node)));
  return { names: rules.map((rule) => rule.name), projection, ...builder.finish(candidates) };
}

/**
 * Compiles named rules into an index; `match(event)` returns the names of the rules whose pattern
 * matches, in the order the rules were given. Every pattern is validated first: an invalid one
 * throws a `PatternError` naming the rule.
 *
 * @example compileRules([{ name: "paid", pattern: { "detail-type": ["OrderPaid"] } }]).match(event) // ["paid"]
 */
export function compileRules(rules: readonly PatternRule[]): CompiledRules {
  // Built in its own function so that `match` keeps only the index, not what built it.
  const { names, projection, exact, prefix, unindexed, program } = buildIndex(rules);
  const hits = new Hits(names.length, program, projection);
  return {
    size: names.length,
    match(event: unknown): string[] {
      // Dotted keys in the event are seen by the projection (see projection.ts), lazily.
      projection.reset(event);
      for (const table of exact) probeExact(table, hits);
      for (const table of prefix) probePrefix(table, hits);
      hits.tryAll(unindexed, false);
      return hits.take(names);
    },
  };
}
