/**
 * Type-checks every ```ts block of README.md and docs/*.md against the workspace's own
 * sources, so the docs cannot drift from the code.
 *
 * Each block becomes a module of a temporary project under test/node_modules/.cache
 * (the `test` workspace depends on every package of ours and on the AWS SDK, and the
 * `nimbus-source` condition resolves `@nimbus/*` to their TypeScript sources). A block
 * whose first line is a path comment (`// nimbus.app.ts`, `// src/api.ts`) is written to
 * that path in its page's folder, so the blocks of one page can import each other the
 * way an app's files do. A fragment that needs context the reader already has (an `env`
 * inside a handler, a bus declared above) gets it from an HTML comment right above the
 * block, which the rendered page does not show:
 *
 *     <!-- ts-context: declare const env: import("@nimbus/runtime").EnvOf<typeof api>; -->
 *
 * A block opts out with ```ts nocheck; every opted-out block is listed on each run.
 *
 * Usage: node scripts/check-doc-snippets.ts   (exits 1 and prints file:line: error for each problem)
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

export interface Snippet {
  /** The page, relative to the root: `docs/buckets.md`. */
  page: string;
  /** 1-based line of the block's first code line in the page. */
  line: number;
  /** The block's code, indentation removed. */
  code: string;
  /** Lines from a `ts-context` comment, put before the code. */
  context: string;
  nocheck: boolean;
}

/** Every ```ts block of a page. */
export function snippetsOf(page: string, text: string): Snippet[] {
  const lines = text.split("\n");
  const found: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```ts(?:\s+(\S.*))?\s*$/.exec(lines[i]!);
    if (!open) continue;
    const indent = open[1]!.length;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== "```") end++;
    const context = /^\s*<!--\s*ts-context:([\s\S]*?)-->\s*$/.exec(lines[i - 1] ?? "")?.[1]?.trim() ?? "";
    found.push({
      page,
      line: start + 1,
      code: lines
        .slice(start, end)
        .map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length)))
        .join("\n"),
      context,
      nocheck: open[2]?.split(/\s+/).includes("nocheck") ?? false,
    });
    i = end;
  }
  return found;
}

export interface SnippetProblem {
  page: string;
  line: number;
  column: number;
  message: string;
}

/** Type-checks the snippets in a project at `dir` (emptied first); returns each problem at its page's line. */
export function checkSnippets(snippets: readonly Snippet[], dir: string): SnippetProblem[] {
  rmSync(dir, { recursive: true, force: true });
  const files = new Map<string, { snippet: Snippet; offset: number }>();
  for (const snippet of snippets) {
    if (snippet.nocheck) continue;
    const folder = snippet.page.replace(/\.md$/, "").replace(/[^\w-]+/g, "_");
    const named = /^\/\/ ((?:[\w-]+\/)*[\w.-]+\.ts)\s*$/.exec(snippet.code.split("\n")[0] ?? "")?.[1];
    let file = join(dir, folder, named ?? `block-${snippet.line}.ts`);
    if (files.has(file)) file = file.replace(/\.ts$/, `-${snippet.line}.ts`);
    const isModule = /^\s*(?:import|export)\b/m.test(snippet.code);
    const context = snippet.context ? `${snippet.context}\n` : "";
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${context}${snippet.code}\n${isModule ? "" : "export {};\n"}`);
    files.set(file, { snippet, offset: context ? context.split("\n").length - 1 : 0 });
  }
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2024,
    lib: ["lib.es2024.d.ts", "lib.dom.d.ts", "lib.esnext.disposable.d.ts"],
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    customConditions: ["nimbus-source"],
    types: ["node"],
    strict: true,
    noUncheckedIndexedAccess: true,
    verbatimModuleSyntax: true,
    isolatedModules: true,
    skipLibCheck: true,
    noEmit: true,
    allowImportingTsExtensions: true,
    // Docs show fragments: a declared-but-unused value is the reader's to use.
    noUnusedLocals: false,
  };
  const program = ts.createProgram({ rootNames: [...files.keys()], options });
  const problems: SnippetProblem[] = [];
  for (const [file, { snippet, offset }] of files) {
    const source = program.getSourceFile(file);
    if (!source) continue;
    for (const diagnostic of ts.getPreEmitDiagnostics(program, source)) {
      const at =
        diagnostic.start === undefined
          ? { line: 0, character: 0 }
          : source.getLineAndCharacterOfPosition(diagnostic.start);
      const inContext = at.line < offset;
      problems.push({
        page: snippet.page,
        line: inContext ? snippet.line - 2 : snippet.line + at.line - offset,
        column: at.character + 1,
        message: `${inContext ? "(in its ts-context) " : ""}${ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")}`,
      });
    }
  }
  return problems;
}

/** README.md and every page of docs/, in order. */
export function pages(root: string): string[] {
  const docs = readdirSync(join(root, "docs"))
    .filter((name) => name.endsWith(".md"))
    .sort()
    .map((name) => `docs/${name}`);
  return ["README.md", ...docs];
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  const snippets = pages(root).flatMap((page) => snippetsOf(page, readFileSync(join(root, page), "utf8")));
  const dir = join(root, "test", "node_modules", ".cache", "doc-snippets");
  const problems = checkSnippets(snippets, dir);
  const skipped = snippets.filter((snippet) => snippet.nocheck);
  for (const problem of problems) {
    console.error(`✖ ${problem.page}:${problem.line}:${problem.column}: ${problem.message}`);
  }
  if (skipped.length > 0) {
    console.log(`${skipped.length} block${skipped.length === 1 ? "" : "s"} opted out (\`\`\`ts nocheck):`);
    for (const snippet of skipped) console.log(`  ${snippet.page}:${snippet.line}`);
  }
  if (problems.length > 0) {
    console.error(
      `\n${problems.length} problem${problems.length === 1 ? "" : "s"} in the docs' ts blocks (${relative(root, dir)} holds the checked files).`,
    );
    process.exitCode = 1;
  } else {
    console.log(
      `✓ ${snippets.length - skipped.length} ts blocks of ${new Set(snippets.map((s) => s.page)).size} pages type-check`,
    );
  }
}
