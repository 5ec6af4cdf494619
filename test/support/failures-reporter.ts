import type { Reporter, SerializedError, TestModule, TestSuite } from "vitest/node";

/** The first lines of an error's message: enough to say what failed, short enough for a tail. */
function firstLines(error: SerializedError, count = 3): string {
  const text = `${error.name && error.name !== "Error" ? `${error.name}: ` : ""}${error.message ?? String(error)}`;
  return text.split("\n").slice(0, count).join("\n      ");
}

/**
 * The run's last lines, when anything failed: every failed test, every error of a file or
 * a suite outside its tests (a hook, an import) and every unhandled error, each with the
 * first lines of its message. The default reporter prints them too, but far above the
 * conformance summary; a CI log read from its tail now ends with what broke.
 */
export default class FailuresReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<SerializedError>): void {
    const lines: string[] = [];
    for (const module of testModules) {
      const project = module.project.name;
      const where = (name?: string) => `[${project}] ${module.relativeModuleId}${name ? ` > ${name}` : ""}`;
      for (const error of module.errors()) lines.push(`  ${where()}\n      ${firstLines(error)}`);
      for (const suite of module.children.allSuites() as Iterable<TestSuite>) {
        for (const error of suite.errors()) lines.push(`  ${where(suite.fullName)}\n      ${firstLines(error)}`);
      }
      for (const test of module.children.allTests("failed")) {
        for (const error of test.result().errors ?? []) {
          lines.push(`  ${where(test.fullName)}\n      ${firstLines(error)}`);
        }
      }
    }
    for (const error of unhandledErrors) lines.push(`  unhandled error\n      ${firstLines(error)}`);
    if (lines.length === 0) return;
    process.stdout.write(`\nfailures (${lines.length}):\n${lines.join("\n")}\n`);
  }
}
