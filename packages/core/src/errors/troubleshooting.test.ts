import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { errorCodes } from "./codes.ts";

const page = readFileSync(join(import.meta.dirname, "../../../../docs/troubleshooting.md"), "utf8");

/** Each `### \`NIMBUS_…\`` section of the page: its code and its text up to the next heading. */
const entries = [...page.matchAll(/^### `([A-Z0-9_]+)`\n([\s\S]*?)(?=^#{1,3} |(?![\s\S]))/gm)].map(
  ([, code, body]) => ({
    code: code!,
    body: body!,
  }),
);

describe("docs/troubleshooting.md", () => {
  it("entries: every code of the catalogue has one, and the page lists no code the catalogue lacks", () => {
    const listed = entries.map((entry) => entry.code);
    const catalogue = Object.keys(errorCodes);
    expect(catalogue.filter((code) => !listed.includes(code))).toEqual([]);
    expect(listed.filter((code) => !Object.hasOwn(errorCodes, code))).toEqual([]);
    expect(listed.filter((code, i) => listed.indexOf(code) !== i)).toEqual([]);
  });

  it("entries: each states the catalogue's kind, status and summary, a cause and a fix", () => {
    const wrong = entries.flatMap(({ code, body }) => {
      const info = errorCodes[code as keyof typeof errorCodes];
      if (!info) return [];
      const problems: string[] = [];
      const tag = `\`${info.kind}\`, HTTP ${info.status}${"graph" in info ? ", graph issue" : ""}: ${info.summary}.`;
      if (!body.trimStart().startsWith(tag)) problems.push(`should start with "${tag}"`);
      if (!/^\*\*Cause:\*\* \S/m.test(body)) problems.push("has no **Cause:**");
      if (!/^\*\*Fix:\*\* \S/m.test(body)) problems.push("has no **Fix:**");
      return problems.map((problem) => `${code} ${problem}`);
    });
    expect(wrong).toEqual([]);
  });
});
