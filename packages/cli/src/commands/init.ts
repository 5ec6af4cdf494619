import { existsSync, readFileSync, statSync } from "node:fs";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { basename, join, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { NimbusError } from "@nimbus/core";
import type { Output } from "../output.ts";

/** The apps `nimbus init --template` can start from, each one of the repository's examples. */
export const templateNames = ["blank", "shop", "telemetry"] as const;
export type TemplateName = (typeof templateNames)[number];

/**
 * The tools every generated app gets, unless its template names its own version: what
 * the repository itself tests with, so a new app's `npm test` runs on versions we know work.
 */
const toolVersions = { "@types/node": "^24.19.4", typescript: "~6.0.3", vitest: "^5.1.2" } as const;

/** The parts of a template's package.json that a generated app inherits. */
interface TemplateManifest {
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** What a template folder holds that an app must not get: installs, state, and the files init writes itself. */
const notCopied = new Set(["node_modules", ".nimbus", "dist", "package.json", "tsconfig.json", ".gitignore"]);

export interface InitOptions {
  /** The folder to write the app into; created when missing. */
  dir: string;
  /**
   * The app to start from.
   * @default "blank"
   */
  template?: string;
  /**
   * Write into a folder that already has files, replacing those the template has.
   * @default false
   */
  force?: boolean;
}

export interface InitResult {
  /** Absolute path of the app folder. */
  dir: string;
  /** The app's name, from the folder's: in package.json and `new App(…)`. */
  name: string;
  template: TemplateName;
  /** Every file written, relative to `dir`, with `/`, sorted. */
  files: string[];
}

/**
 * The folder holding the templates: `dist/templates/` of the installed package (copied
 * from the repository's examples by the CLI's build), or the examples themselves when the CLI
 * runs from its TypeScript sources in the repository.
 */
export function templatesDir(): string {
  const fromSource = import.meta.url.endsWith(".ts");
  return fileURLToPath(new URL(fromSource ? "../../../../examples/" : "../templates/", import.meta.url));
}

/**
 * Writes a new app from a template: its app file, handlers and tests, then package.json
 * (the Nimbus packages at this CLI's version, and the test tools), tsconfig.json and a
 * .gitignore covering the state folder and `.env`. Refuses a folder with files in it
 * unless `force` is set.
 */
export async function init(options: InitOptions): Promise<InitResult> {
  const template = parseTemplate(options.template);
  const source = join(templatesDir(), template);
  if (!existsSync(join(source, "nimbus.app.ts"))) {
    throw new NimbusError(
      "NIMBUS_CLI_TEMPLATE",
      `The ${template} template is not part of this nimbus (no ${source}). Pick another with --template ${templateNames.filter((name) => name !== template).join(" or ")}.`,
    );
  }
  const dir = resolve(options.dir);
  await checkTarget(dir, options.force === true);
  const name = appName(dir);
  const written: string[] = [];
  const write = async (path: string, text: string) => {
    await mkdir(join(dir, path, ".."), { recursive: true });
    await writeFile(join(dir, path), text);
    written.push(path);
  };

  for (const file of await templateFiles(source)) {
    const path = toPosix(relative(source, file));
    await mkdir(join(dir, path, ".."), { recursive: true });
    if (path === "nimbus.app.ts") {
      await write(path, renameApp(await readFile(file, "utf8"), name));
    } else {
      await copyFile(file, join(dir, path));
      written.push(path);
    }
  }
  const manifest = JSON.parse(await readFile(join(source, "package.json"), "utf8")) as TemplateManifest;
  await write("package.json", `${JSON.stringify(packageJson(name, manifest), null, 2)}\n`);
  await write("tsconfig.json", `${JSON.stringify(tsconfig(source), null, 2)}\n`);
  await write(".gitignore", "node_modules/\n# The emulator's state: buckets, queues, logs.\n.nimbus/\n.env\n");
  return { dir, name, template, files: written.sort() };
}

/** `nimbus init [dir] [--template blank|shop|telemetry] [--force]`. */
export async function initCommand(
  args: { dir: string; template?: string; force?: boolean },
  output: Output,
): Promise<void> {
  const result = await init(args);
  const cd = relative(process.cwd(), result.dir);
  output.out(
    [
      `Created "${result.name}" from the ${result.template} template in ${result.dir}:`,
      ...result.files.map((file) => `  ${file}`),
      "",
      "Next:",
      ...(cd ? [`  cd ${cd.includes(" ") ? JSON.stringify(cd) : cd}`] : []),
      "  npm install",
      "  npm test          # the app's tests, in the emulator",
      "  npm run dev       # serves it on http://127.0.0.1:8787, reloading as you save",
    ].join("\n"),
  );
}

function parseTemplate(value: string | undefined): TemplateName {
  const template = value ?? "blank";
  if ((templateNames as readonly string[]).includes(template)) return template as TemplateName;
  throw new NimbusError(
    "NIMBUS_CLI_TEMPLATE",
    `Unknown template "${template}"; expected --template ${templateNames.join(", ")}.`,
  );
}

async function checkTarget(dir: string, force: boolean): Promise<void> {
  const stat = statSync(dir, { throwIfNoEntry: false });
  if (!stat) return;
  if (!stat.isDirectory()) {
    throw new NimbusError("NIMBUS_CLI_ARGS", `${dir} is a file; pass a folder (a new one is created) to nimbus init.`);
  }
  // A repository made first (git init, then nimbus init .) is still an empty app folder.
  const entries = (await readdir(dir)).filter((entry) => entry !== ".git");
  if (entries.length === 0 || force) return;
  const shown = entries.slice(0, 5).join(", ") + (entries.length > 5 ? `, … (${entries.length} in all)` : "");
  throw new NimbusError(
    "NIMBUS_CLI_INIT_NOT_EMPTY",
    `${dir} is not empty (${shown}). Pass an empty or new folder, or add --force to write the template over it (files it also has are replaced).`,
  );
}

async function templateFiles(dir: string): Promise<string[]> {
  const files: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (notCopied.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...(await templateFiles(path)));
    else if (entry.isFile()) files.push(path);
  }
  return files;
}

/** A resource name (DNS-safe, as core requires) from the folder's name; "app" when nothing is left. */
function appName(dir: string): string {
  const name = basename(dir)
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^[^a-z]+/, "")
    .replace(/-+$/, "")
    .slice(0, 63)
    .replace(/-+$/, "");
  return name || "app";
}

/** The template's `new App("shop")` named after the new app. */
function renameApp(source: string, name: string): string {
  return source.replace(/new App\((["'])[^"']*\1/, `new App(${JSON.stringify(name)}`);
}

/**
 * The app's package.json: the template's dependencies, its workspace packages at this
 * CLI's version (they are published together), plus the CLI and the test tools.
 */
function packageJson(name: string, template: TemplateManifest): object {
  const version = cliVersion();
  const versioned = (deps: Record<string, string> = {}) =>
    Object.entries(deps).map(([pkg, range]) => [pkg, range.startsWith("workspace:") ? `^${version}` : range] as const);
  const sorted = (entries: (readonly [string, string])[]) =>
    Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
  return {
    name,
    version: "0.1.0",
    private: true,
    type: "module",
    scripts: { dev: "nimbus dev", test: "vitest run", typecheck: "tsc" },
    dependencies: sorted(versioned(template.dependencies)),
    devDependencies: sorted([
      ...Object.entries(toolVersions),
      ["nimbus", `^${version}`],
      ...versioned(template.devDependencies),
    ]),
  };
}

/**
 * The template's own tsconfig without the repository's `nimbus-source` condition, which
 * resolves the workspace's sources and means nothing to installed packages.
 */
function tsconfig(source: string): object {
  const config = JSON.parse(readFileSync(join(source, "tsconfig.json"), "utf8")) as {
    compilerOptions?: Record<string, unknown>;
  };
  const { customConditions: _, ...compilerOptions } = config.compilerOptions ?? {};
  return { ...config, compilerOptions };
}

function cliVersion(): string {
  const manifest = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as {
    version: string;
  };
  return manifest.version;
}

function toPosix(path: string): string {
  return path.split(sep).join("/");
}
