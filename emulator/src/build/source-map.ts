import { SourceMap } from "node:module";
import { dirname, isAbsolute, relative, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const inlineMap = /\/\/# sourceMappingURL=data:application\/json;(?:charset=utf-8;)?base64,([A-Za-z0-9+/=]+)\s*$/;

export interface MapStackOptions {
  /** The built file the frames may point into; it may be gone by now (a temporary build). */
  bundle: string;
  /** Its text, with esbuild's inline source map at the end. */
  code: string;
  /** The app folder: files in it are shown relative to it. */
  root: string;
}

/**
 * Rewrites the frames of `stack` that point into the bundle to the author's
 * `file:line:column`, shows files of the app folder relative to it, and keeps only the
 * frames in the app folder (outside node_modules) when there are any: the rest is Node
 * and the emulator loading the code, which says nothing about the author's mistake.
 */
export function mapStack(stack: string, options: MapStackOptions): string {
  const { bundle, code, root } = options;
  const payload = inlineMap.exec(code)?.[1];
  const map = payload && new SourceMap(JSON.parse(Buffer.from(payload, "base64").toString("utf8")));
  const inBundle = new RegExp(
    `(?:${[pathToFileURL(bundle).href, bundle].map(escapeRegExp).join("|")}):(\\d+):(\\d+)`,
    "g",
  );
  const shown = (file: string) => {
    const path = file.startsWith("file:") ? fileURLToPath(file) : file;
    const inside = relative(root, path);
    return inside && !inside.startsWith("..") && !isAbsolute(inside) ? inside : path;
  };
  const lines = stack.split("\n").map((line) => {
    if (!/^\s+at /.test(line)) return { line, app: false };
    let mapped = line;
    if (map) {
      mapped = mapped.replace(inBundle, (whole, row: string, column: string) => {
        const entry = map.findEntry(Number(row) - 1, Number(column) - 1);
        if (!("originalSource" in entry) || !entry.originalSource) return whole;
        const source = entry.originalSource.startsWith("file:")
          ? entry.originalSource
          : resolve(dirname(bundle), entry.originalSource);
        return `${source}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
      });
    }
    // A frame's location: `(file:line:col)` or, for top-level code, `at file:line:col`.
    const location = /(?:\(|at )((?:file:\/\/)?\/[^():]+):(\d+):(\d+)\)?$/.exec(mapped);
    if (!location) return { line: mapped, app: false };
    const file = location[1]!;
    const path = file.startsWith("file:") ? fileURLToPath(file) : file;
    const app = shown(path) !== path && !path.split(sep).includes("node_modules");
    return { line: mapped.replace(file, shown(path)), app };
  });
  const frames = lines.filter((l) => /^\s+at /.test(l.line));
  const keep = frames.some((l) => l.app)
    ? (l: (typeof lines)[number]) => !/^\s+at /.test(l.line) || l.app
    : (l: (typeof lines)[number]) => !/^\s+at (?:.* \()?node:internal\//.test(l.line);
  return lines
    .filter(keep)
    .map((l) => l.line)
    .join("\n");
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
