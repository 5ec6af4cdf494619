import { fnv1a } from "./hash.ts";

/**
 * Where a physical name is used, each with its own alphabet and length:
 * - `jetstream`: NATS JetStream stream and consumer names, also file names on the
 *   server: letters, digits, `-` and `_` (no `.`, `*`, `>`, `/` or whitespace), at most
 *   32 characters (the practical cap for streams);
 * - `dns`: a DNS label, also a Kubernetes name: `[a-z0-9-]`, starting with a letter,
 *   ending with a letter or digit, at most 63;
 * - `docker`: container, network and volume names, kept to DNS labels so that each is
 *   also a host name on the network;
 * - `s3`: a bucket name: a DNS label of 3 to 63 characters, without S3's reserved
 *   prefixes and suffixes (`xn--`, `sthree-`, `-s3alias`, …).
 */
export type PhysicalTarget = "jetstream" | "dns" | "docker" | "s3";

export interface PhysicalNameOptions {
  /**
   * Put before the name with a `-`: the stage and app, so two stacks on one server never share a name.
   * @default none
   * @example "prod-shop"
   */
  prefix?: string;
  /**
   * A cap below the target's own (never above it, never below 12).
   * @default the target's: 32 for jetstream, 63 for the others
   * @example 40
   */
  maxLength?: number;
}

interface Alphabet {
  max: number;
  min: number;
  /** The name with what the target refuses replaced. */
  clean(name: string): string;
  valid(name: string): boolean;
}

const dnsLabel = /^[a-z](?:[a-z0-9-]*[a-z0-9])?$/;
const s3Prefixes = ["xn--", "sthree-", "amzn-s3-demo-"];
const s3Suffixes = ["-s3alias", "--ol-s3", "--x-s3", "--table-s3"];

function dnsClean(name: string): string {
  return name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+$/, "");
}

const alphabets: Record<PhysicalTarget, Alphabet> = {
  jetstream: {
    max: 32,
    min: 1,
    clean: (name) => name.replace(/[^A-Za-z0-9_-]+/g, "-"),
    valid: (name) => /^[A-Za-z0-9_-]+$/.test(name),
  },
  dns: { max: 63, min: 1, clean: dnsClean, valid: (name) => dnsLabel.test(name) },
  docker: { max: 63, min: 1, clean: dnsClean, valid: (name) => dnsLabel.test(name) },
  s3: {
    max: 63,
    min: 3,
    clean: (name) => {
      const clean = dnsClean(name);
      return s3Prefixes.some((prefix) => clean.startsWith(prefix)) ? `b-${clean}` : clean;
    },
    valid: (name) =>
      dnsLabel.test(name) &&
      !s3Prefixes.some((prefix) => name.startsWith(prefix)) &&
      !s3Suffixes.some((suffix) => name.endsWith(suffix)),
  },
};

/** Length of the hash suffix: 8 hex digits and its separator. */
const hashLength = 9;

/**
 * The name `name` (with `prefix`) takes on `target`: the name itself when the target
 * accepts it as it is; otherwise what the target refuses replaced, cut to length, and a
 * hash of the whole original appended, so two names that read alike once altered never
 * collide. Deterministic: the same input gives the same name on every run and machine.
 *
 *     physicalName("orders", "s3", { prefix: "prod-shop" })  // "prod-shop-orders"
 *     physicalName("Orders_2024", "dns")                      // "orders-2024-518018d5"
 */
export function physicalName(name: string, target: PhysicalTarget, options: PhysicalNameOptions = {}): string {
  const alphabet = alphabets[target];
  const wanted = options.prefix ? `${options.prefix}-${name}` : name;
  const max = Math.max(12, Math.min(alphabet.max, options.maxLength ?? alphabet.max));
  if (wanted.length >= alphabet.min && wanted.length <= max && alphabet.valid(wanted)) return wanted;
  return hashed(alphabet.clean(wanted), wanted, max, "-");
}

/** `clean` cut to fit `max` with `-<hash of original>` (or `joiner`) after it. */
function hashed(clean: string, original: string, max: number, joiner: string): string {
  const kept = clean.slice(0, max - hashLength).replace(/[-_]+$/, "");
  // A DNS label starts with a letter, and the hash may not: `n` stands in for an empty name.
  return `${kept || "n"}${joiner}${fnv1a(original)}`;
}

/** One route of a rule or schedule to one target: a label for people, a key for storage. */
export interface DeliveryRoute {
  /** For logs, dead letters and `nimbus queues`: `orders/paid → function fulfil`. */
  label: string;
  /**
   * For storage and transports: a JetStream-safe name, `orders_paid_function_fulfil`.
   * It always holds a `_`, which no resource name does, so it never names an app's queue.
   */
  key: string;
}

/**
 * The label and key of the deliveries from `from` (a rule `<bus>/<rule>` or a schedule)
 * to `target`. The key joins the parts with `_`; one longer than 32 characters is cut
 * and ends in `_<hash of the label>`.
 */
export function deliveryRoute(from: string, target: { kind: string; name: string }): DeliveryRoute {
  const label = `${from} → ${target.kind} ${target.name}`;
  const key = [...from.split("/"), target.kind, target.name].join("_");
  const alphabet = alphabets.jetstream;
  if (key.length <= alphabet.max && alphabet.valid(key)) return { label, key };
  return { label, key: hashed(alphabet.clean(key), label, alphabet.max, "_") };
}
