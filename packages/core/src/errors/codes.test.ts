import { type Dirent, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { errorCodes, httpStatus } from "./codes.ts";
import { NimbusError } from "./nimbus-error.ts";
import { unknownResource } from "./unknown-resource.ts";

const repo = join(import.meta.dirname, "../../../..");

/** Every non-test TypeScript source of the packages and the emulator. */
function sources(): { file: string; text: string }[] {
  const roots = [
    ...readdirSync(join(repo, "packages"), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => join(repo, "packages", entry.name, "src")),
    join(repo, "emulator", "src"),
  ];
  const files: string[] = [];
  const walk = (dir: string) => {
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      const path = join(dir, entry.name);
      if (entry.isDirectory() && entry.name !== "node_modules") walk(path);
      else if (/\.ts$/.test(entry.name) && !/\.test(-d)?\.ts$/.test(entry.name)) files.push(path);
    }
  };
  for (const root of roots) walk(root);
  return files.map((file) => ({ file: relative(repo, file), text: readFileSync(file, "utf8") }));
}

describe("error catalogue", () => {
  it("codes: every code the source tree names is in the catalogue", () => {
    const all = sources();
    // Environment variables share the prefix: `NIMBUS_ROLE=function`, `process.env.NIMBUS_X`,
    // and the host's table of them (`NIMBUS_PORT: "the HTTP port…"`).
    const variables = new Set<string>();
    for (const { text } of all) {
      for (const [, name] of text.matchAll(/\b(NIMBUS_[A-Z0-9_]*[A-Z0-9])=/g)) variables.add(name!);
      for (const [, name] of text.matchAll(/process\.env\.(NIMBUS_[A-Z0-9_]+)/g)) variables.add(name!);
      for (const [, name] of text.matchAll(/^\s+(NIMBUS_[A-Z0-9_]+):\s*["'`]/gm)) variables.add(name!);
    }
    const missing = new Set<string>();
    for (const { file, text } of all) {
      for (const [, code] of text.matchAll(/["'`](NIMBUS_[A-Z0-9_]*[A-Z0-9])["'`]/g)) {
        if (!variables.has(code!) && !Object.hasOwn(errorCodes, code!)) missing.add(`${code} (${file})`);
      }
    }
    expect([...missing].sort()).toEqual([]);
  });

  it("codes: none is built at run time, so every one is listed", () => {
    const built = sources().filter(({ text }) => /["'`]NIMBUS_[A-Z0-9_]*\$\{/.test(text));
    expect(built.map(({ file }) => file)).toEqual([]);
  });

  it("codes: each has a one-line summary, a kind and an HTTP status", () => {
    for (const [code, info] of Object.entries(errorCodes)) {
      expect(code).toMatch(/^NIMBUS_[A-Z0-9]+(_[A-Z0-9]+)+$/);
      expect(info.summary.trim(), code).not.toBe("");
      expect(info.summary, code).not.toContain("\n");
      expect(["user", "system"], code).toContain(info.kind);
      expect(info.status, code).toBeGreaterThanOrEqual(400);
      expect(info.status, code).toBeLessThan(600);
    }
  });

  it("new NimbusError: takes its kind from the catalogue unless told", () => {
    expect(new NimbusError("NIMBUS_QUEUE_BATCH", "too many").kind).toBe("user");
    expect(new NimbusError("NIMBUS_BUCKET_STORE_UNREACHABLE", "down").kind).toBe("system");
    expect(new NimbusError("NIMBUS_QUEUE_BATCH", "ours", { kind: "system" }).kind).toBe("system");
  });

  it("httpStatus: maps each code to its status; an unknown code is a 500", () => {
    expect(httpStatus("NIMBUS_EMULATOR_UNKNOWN_QUEUE")).toBe(404);
    expect(httpStatus("NIMBUS_QUEUE_BATCH")).toBe(400);
    expect(httpStatus("NIMBUS_CONTROL_FAILED")).toBe(500);
    expect(httpStatus("NIMBUS_FROM_A_LATER_VERSION")).toBe(500);
  });

  it("unknownResource: names the app's resources of the kind, or none", () => {
    const error = unknownResource("queue", "nope", ["jobs", "jobs-dlq"]);
    expect(error).toMatchObject({
      code: "NIMBUS_EMULATOR_UNKNOWN_QUEUE",
      kind: "user",
      message: 'The app has no queue "nope" (its queues: "jobs", "jobs-dlq").',
    });
    expect(unknownResource("bucket", "nope", [], "shop").message).toBe(
      'App "shop" has no bucket "nope" (its buckets: none).',
    );
  });
});
