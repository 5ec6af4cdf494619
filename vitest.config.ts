import { defaultServerConditions } from "vite";
import { defineConfig } from "vitest/config";

// Workspace packages resolve to their TypeScript sources through the `nimbus-source`
// export condition, so tests never need a build. Not "module": the AWS SDK's packages
// answer it with ES builds whose extensionless imports only a bundler can follow.
const conditions = ["nimbus-source", ...defaultServerConditions.filter((condition) => condition !== "module")];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["nimbus-source"] } },
  test: {
    // Two files at once, for every project but the conformance suite (below). Vitest's
    // default on two cores is one file at a time.
    maxWorkers: 2,
    // The JSON report lets .ci/run print one plain closing line of counts.
    // The summary reporter adds one line per conformance target: passed, failed, skipped and why.
    // The failures reporter comes last, so a log read from its tail ends with what failed.
    reporters: [
      "default",
      ["json", { outputFile: "node_modules/.cache/vitest-report.json" }],
      "./test/conformance/summary-reporter.ts",
      "./test/support/failures-reporter.ts",
    ],
    projects: [
      { extends: true, test: { name: "core", include: ["packages/core/src/**/*.test.ts"] } },
      { extends: true, test: { name: "runtime", include: ["packages/runtime/src/**/*.test.ts"] } },
      { extends: true, test: { name: "store", include: ["packages/store/src/**/*.test.ts"], testTimeout: 60_000 } },
      {
        extends: true,
        test: {
          name: "types",
          include: [],
          typecheck: {
            enabled: true,
            only: true,
            include: ["packages/*/src/**/*.test-d.ts", "test/**/*.test-d.ts"],
            tsconfig: "./tsconfig.json",
          },
        },
      },
      { extends: true, test: { name: "cli", include: ["packages/cli/src/**/*.test.ts"] } },
      { extends: true, test: { name: "emulator", include: ["emulator/src/**/*.test.ts"] } },
      { extends: true, test: { name: "deploy-docker", include: ["packages/deploy-docker/src/**/*.test.ts"] } },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/**/*.test.ts"],
          exclude: ["test/conformance/**", "**/node_modules/**"],
          testTimeout: 60_000,
        },
      },
      // The same statements on every target (test/conformance/targets.ts). Alone and one
      // file at a time, after every other project: the real-clock forms check that a retry
      // or a tick comes at most 2 s late, which they should not share with another file
      // deploying hosts and containers on a 2-core machine. (The misses that first looked
      // like contention were the host's own 2 s stall, fixed in its queue driver.) The whole
      // CI run is also shorter this way: 25–28 minutes, against 34–40 with two files at once.
      {
        extends: true,
        // hookTimeout: a section deploys its app in beforeAll, on the docker target several containers.
        test: {
          name: "conformance",
          include: ["test/conformance/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 180_000,
          maxWorkers: 1,
          sequence: { groupOrder: 1 },
        },
      },
      { extends: true, test: { name: "scripts", include: ["scripts/**/*.test.ts"] } },
      { extends: true, test: { name: "examples", include: ["examples/**/*.test.ts"], testTimeout: 60_000 } },
    ],
  },
});
