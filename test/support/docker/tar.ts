import { lstatSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join, relative, sep } from "node:path";

/** One entry of a tar archive, by its path inside the archive (with `/`, no leading `/`). */
export interface TarEntry {
  path: string;
  type: "file" | "dir" | "symlink";
  /** Permission bits, e.g. 0o644. */
  mode: number;
  /** @default 0 */
  uid?: number;
  /** @default 0 */
  gid?: number;
  content?: Uint8Array;
  /** A symlink's target. */
  target?: string;
}

const block = 512;

function field(header: Buffer, offset: number, length: number, value: string): void {
  const bytes = Buffer.from(value, "utf8");
  if (bytes.length > length) throw new Error(`tar: "${value}" does not fit a ${length}-byte header field`);
  bytes.copy(header, offset);
}

const octal = (value: number, length: number): string => `${value.toString(8).padStart(length - 1, "0")}\0`;

/** Splits a long path into ustar's prefix (155 bytes) and name (100 bytes) at a `/`. */
function splitPath(path: string): { prefix: string; name: string } {
  if (Buffer.byteLength(path) <= 100) return { prefix: "", name: path };
  for (let cut = path.lastIndexOf("/"); cut > 0; cut = path.lastIndexOf("/", cut - 1)) {
    const prefix = path.slice(0, cut);
    const name = path.slice(cut + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return { prefix, name };
  }
  throw new Error(`tar: the path "${path}" is too long for a ustar header`);
}

function header(entry: TarEntry, size: number): Buffer {
  const buffer = Buffer.alloc(block);
  const { prefix, name } = splitPath(entry.type === "dir" && !entry.path.endsWith("/") ? `${entry.path}/` : entry.path);
  field(buffer, 0, 100, name);
  field(buffer, 100, 8, octal(entry.mode & 0o7777, 8));
  field(buffer, 108, 8, octal(entry.uid ?? 0, 8));
  field(buffer, 116, 8, octal(entry.gid ?? 0, 8));
  field(buffer, 124, 12, octal(size, 12));
  // A fixed time stamp: the same entries give the same bytes, so builds hit the cache.
  field(buffer, 136, 12, octal(0, 12));
  field(buffer, 156, 1, entry.type === "file" ? "0" : entry.type === "dir" ? "5" : "2");
  if (entry.type === "symlink") field(buffer, 157, 100, entry.target ?? "");
  field(buffer, 257, 6, "ustar\0");
  field(buffer, 263, 2, "00");
  field(buffer, 345, 155, prefix);
  // The checksum is computed with its own field read as eight spaces.
  buffer.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of buffer) sum += byte;
  field(buffer, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return buffer;
}

/** A ustar archive of `entries`, in their order. */
export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const content = entry.type === "file" ? Buffer.from(entry.content ?? new Uint8Array()) : Buffer.alloc(0);
    parts.push(header(entry, content.length), content);
    const padding = (block - (content.length % block)) % block;
    if (padding > 0) parts.push(Buffer.alloc(padding));
  }
  parts.push(Buffer.alloc(block * 2));
  return Buffer.concat(parts);
}

/** Every file, folder and symlink under `dir`, sorted by path, owned by root (as `docker build` sends a context). */
export function directoryEntries(dir: string): TarEntry[] {
  const entries: TarEntry[] = [];
  const walk = (path: string) => {
    for (const name of readdirSync(path).sort()) {
      const full = join(path, name);
      const rel = relative(dir, full).split(sep).join("/");
      const stat = lstatSync(full);
      if (stat.isSymbolicLink()) entries.push({ path: rel, type: "symlink", mode: 0o777, target: readlinkSync(full) });
      else if (stat.isDirectory()) {
        entries.push({ path: rel, type: "dir", mode: stat.mode });
        walk(full);
      } else if (stat.isFile()) entries.push({ path: rel, type: "file", mode: stat.mode, content: readFileSync(full) });
    }
  };
  walk(dir);
  return entries;
}
