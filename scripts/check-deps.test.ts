import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { checkImport, checkRepo, importsOf, rules, type Workspace } from "./check-deps.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const workspace = (dir: string, name: string, mayImport: string[] = [], subpaths: string[] = []): Workspace => ({
  dir,
  name,
  mayImport,
  subpaths,
  declared: new Set(["zod"]),
});

describe("check-deps", () => {
  it("importsOf: finds static, type-only, re-exported, side-effect and dynamic imports", () => {
    const source = `import { a } from "a";
import type { B } from "b";
export { c } from "c";
import "d";
const e = await import("e");
import {
  f,
} from "f";
// import { g } from "g";`;
    expect(importsOf(source)).toEqual(["a", "b", "c", "d", "f", "e"]);
  });

  it("checkImport: core may import nothing of ours and no Node built-in", () => {
    const core = workspace("packages/core", "@nimbus/core");
    expect(checkImport(core, "packages/core/src/x.ts", "@nimbus/runtime", root)).toMatch(
      /may not import @nimbus\/runtime/,
    );
    expect(checkImport(core, "packages/core/src/x.ts", "node:fs", root)).toMatch(/platform-neutral/);
    expect(checkImport(core, "packages/core/src/x.ts", "zod", root)).toBeUndefined();
  });

  it("checkImport: the emulator may not import a deploy target", () => {
    const emulator = workspace("emulator", "@nimbus/emulator", ["@nimbus/core", "@nimbus/runtime"]);
    expect(checkImport(emulator, "emulator/src/x.ts", "@nimbus/deploy-docker", root)).toMatch(/may not import/);
  });

  it("checkImport: refuses deep imports, relative paths into other packages and undeclared packages", () => {
    const example = workspace("examples/shop", "@nimbus-examples/shop", ["@nimbus/core"]);
    expect(checkImport(example, "examples/shop/a.ts", "@nimbus/core/src/app/app.ts", root)).toMatch(
      /only @nimbus\/core may be imported, not @nimbus\/core\/src\/app\/app.ts/,
    );
    expect(checkImport(example, "examples/shop/a.ts", "../../packages/core/src/index.ts", root)).toMatch(
      /leaves examples\/shop/,
    );
    expect(checkImport(example, "examples/shop/src/a.ts", "../nimbus.app", root)).toBeUndefined();
    expect(checkImport(example, "examples/shop/a.ts", "left-pad", root)).toMatch(/left-pad is not declared/);
  });

  it("checkImport: a workspace may import the subpaths its rule names, and no other", () => {
    const emulator = workspace(
      "emulator",
      "@nimbus/emulator",
      ["@nimbus/core", "@nimbus/runtime"],
      ["@nimbus/runtime/target"],
    );
    expect(checkImport(emulator, "emulator/src/x.ts", "@nimbus/runtime/target", root)).toBeUndefined();
    expect(checkImport(emulator, "emulator/src/x.ts", "@nimbus/runtime", root)).toBeUndefined();
    expect(checkImport(emulator, "emulator/src/x.ts", "@nimbus/runtime/host", root)).toMatch(
      /only @nimbus\/runtime and @nimbus\/runtime\/target may be imported, not @nimbus\/runtime\/host/,
    );
    expect(checkImport(emulator, "emulator/src/x.ts", "@nimbus/core/target", root)).toMatch(/only @nimbus\/core may/);
    const example = workspace("examples/shop", "@nimbus-examples/shop", ["@nimbus/core", "@nimbus/runtime"]);
    expect(checkImport(example, "examples/shop/a.ts", "@nimbus/runtime/target", root)).toMatch(
      /only @nimbus\/runtime may be imported/,
    );
  });

  it("checkImport: an example's tests may start the emulator through its testing entry, not its main one", () => {
    const example = workspace(
      "examples/shop",
      "@nimbus-examples/shop",
      [...rules["examples/*"]!.mayImport],
      [...rules["examples/*"]!.subpaths],
    );
    expect(checkImport(example, "examples/shop/shop.test.ts", "@nimbus/emulator/testing", root)).toBeUndefined();
    expect(checkImport(example, "examples/shop/shop.test.ts", "@nimbus/emulator", root)).toMatch(
      /@nimbus-examples\/shop may not import @nimbus\/emulator/,
    );
    expect(checkImport(example, "examples/shop/shop.test.ts", "@nimbus/emulator/src/emulator.ts", root)).toMatch(
      /may not import @nimbus\/emulator/,
    );
  });

  it("checkRepo: the repository itself has no wrong arrow", () => {
    expect(checkRepo(root)).toEqual([]);
  });
});
