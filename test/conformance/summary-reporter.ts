import type { Reporter, TestModule } from "vitest/node";

interface Counts {
  passed: number;
  failed: number;
  skipped: { title: string; reason: string }[];
}

/**
 * After a run that included conformance tests, one line per target,
 * `conformance[<target>]: <n> passed, <n> failed, <n> skipped`, then each skipped
 * statement with its reason, so a target that quietly ran nothing shows. Tests left out
 * by a filter (`-t`) are not counted: only those the suite itself skipped, with a reason.
 */
export default class ConformanceSummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const byTarget = new Map<string, Counts>();
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const { conformanceTarget: target, skipReason } = test.meta();
        if (!target) continue;
        let counts = byTarget.get(target);
        if (!counts) {
          counts = { passed: 0, failed: 0, skipped: [] };
          byTarget.set(target, counts);
        }
        const result = test.result();
        if (result.state === "passed") counts.passed++;
        if (result.state === "failed") counts.failed++;
        const reason = skipReason ?? (result.state === "skipped" ? result.note : undefined);
        if (result.state === "skipped" && reason) counts.skipped.push({ title: test.fullName, reason });
      }
    }
    if (byTarget.size === 0) return;
    const lines = [""];
    for (const [target, { passed, failed, skipped }] of byTarget) {
      lines.push(`conformance[${target}]: ${passed} passed, ${failed} failed, ${skipped.length} skipped`);
    }
    for (const { title, reason } of [...byTarget.values()].flatMap((counts) => counts.skipped)) {
      lines.push(`  skipped: ${title} (${reason})`);
    }
    process.stdout.write(`${lines.join("\n")}\n`);
  }
}
