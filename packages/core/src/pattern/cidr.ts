/**
 * IPv4 and IPv6 addresses and CIDR blocks for the `cidr` operator. Addresses are kept as byte
 * arrays so both families share one containment check.
 */

export interface IpAddress {
  family: 4 | 6;
  bytes: Uint8Array;
}

export interface CidrBlock {
  family: 4 | 6;
  /** The network address with the host bits cleared. */
  network: Uint8Array;
  prefixLength: number;
}

const IPV4_PART = /^(?:0|[1-9]\d{0,2})$/;
const IPV6_GROUP = /^[0-9a-fA-F]{1,4}$/;

/** Parses a dotted-quad IPv4 address; leading zeros are refused because they are read as octal elsewhere. */
function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i] ?? "";
    if (!IPV4_PART.test(part)) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes[i] = value;
  }
  return bytes;
}

/** Parses IPv6 in full, `::`-compressed, and IPv4-suffixed (`::ffff:10.0.0.1`) forms. */
function parseIpv6(text: string): Uint8Array | undefined {
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (half: string): string[] => (half === "" ? [] : half.split(":"));
  const head = groupsOf(halves[0] ?? "");
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? "") : [];
  const words: number[][] = [[], []];
  const sides = [head, tail];
  for (let side = 0; side < 2; side++) {
    const groups = sides[side] ?? [];
    for (let i = 0; i < groups.length; i++) {
      const group = groups[i] ?? "";
      const isLastOfAddress = side === (halves.length === 2 ? 1 : 0) && i === groups.length - 1;
      if (isLastOfAddress && group.includes(".")) {
        const v4 = parseIpv4(group);
        if (!v4) return undefined;
        words[side]?.push(((v4[0] ?? 0) << 8) | (v4[1] ?? 0), ((v4[2] ?? 0) << 8) | (v4[3] ?? 0));
      } else if (IPV6_GROUP.test(group)) {
        words[side]?.push(Number.parseInt(group, 16));
      } else {
        return undefined;
      }
    }
  }
  const [before = [], after = []] = words;
  const count = before.length + after.length;
  if (halves.length === 2 ? count > 7 : count !== 8) return undefined;
  const all = [...before, ...new Array<number>(8 - count).fill(0), ...after];
  const bytes = new Uint8Array(16);
  all.forEach((word, i) => {
    bytes[i * 2] = word >> 8;
    bytes[i * 2 + 1] = word & 0xff;
  });
  return bytes;
}

/** An IP address, or `undefined` when `text` is not one. */
export function parseIp(text: string): IpAddress | undefined {
  if (text.includes(":")) {
    const bytes = parseIpv6(text);
    return bytes && { family: 6, bytes };
  }
  const bytes = parseIpv4(text);
  return bytes && { family: 4, bytes };
}

/** A CIDR block, or the reason `text` is not one (worded like EventBridge's errors). */
export function parseCidr(text: string): { ok: true; block: CidrBlock } | { ok: false; message: string } {
  const parts = text.split("/");
  if (parts.length !== 2) return { ok: false, message: `malformed CIDR "${text}": exactly one "/" is required` };
  const [address = "", bits = ""] = parts;
  if (!/^\d{1,3}$/.test(bits)) {
    return { ok: false, message: `malformed CIDR "${text}": the mask bits must be an integer` };
  }
  const ip = parseIp(address);
  if (!ip) return { ok: false, message: `malformed CIDR "${text}": "${address}" is not a standard IP address` };
  const prefixLength = Number(bits);
  const maxBits = ip.bytes.length * 8;
  if (prefixLength > maxBits) {
    return { ok: false, message: `malformed CIDR "${text}": an IPv${ip.family} mask has at most ${maxBits} bits` };
  }
  const network = ip.bytes.slice();
  for (let bit = prefixLength; bit < maxBits; bit++) {
    const index = bit >> 3;
    network[index] = (network[index] ?? 0) & ~(0x80 >> (bit & 7));
  }
  return { ok: true, block: { family: ip.family, network, prefixLength } };
}

/** Whether `address` (an event value) lies inside `block`. */
export function cidrContains(block: CidrBlock, address: string): boolean {
  const ip = parseIp(address);
  if (!ip || ip.family !== block.family) return false;
  const fullBytes = block.prefixLength >> 3;
  for (let i = 0; i < fullBytes; i++) {
    if (ip.bytes[i] !== block.network[i]) return false;
  }
  const restBits = block.prefixLength & 7;
  if (restBits === 0) return true;
  const mask = (0xff << (8 - restBits)) & 0xff;
  return ((ip.bytes[fullBytes] ?? 0) & mask) === block.network[fullBytes];
}
