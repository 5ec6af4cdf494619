import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, type TestContext, test } from "vitest";
import { repoRoot } from "../support/cli.ts";
import type { Deployment, DeployOptions, TargetDriver } from "./driver.ts";
import { targets } from "./targets.ts";

declare module "vitest" {
  interface TaskMeta {
    /** The target a conformance test ran on; the summary reporter counts by it. */
    conformanceTarget?: string;
    /** Why a conformance test was skipped, for the summary reporter. */
    skipReason?: string;
  }
}

/** A deployed app, with the copy's folder the test may edit before `update()`. */
export type DeployedApp = Deployment & { readonly root: string };

export interface ConformanceTestOptions {
  /**
   * `"clock"`: the test moves the target's clock; skipped on a target that cannot. A
   * statement of the queue, bus, schedule or notification sections never uses it: it
   * gives `ClockForms` instead, so it runs on every target.
   */
  needs?: "clock";
  /** ms; the conformance project's default is 60 s. */
  timeout?: number;
}

/**
 * One statement in two forms. On a clock the test moves (the emulator's), boundaries are
 * exact: nothing at 9,999 ms, the retry at 10,000. On the real clock (host processes,
 * containers) the app's durations are short, and the test waits them out and checks what
 * the handlers recorded within stated tolerances (see real-time.ts).
 */
export interface ClockForms {
  /** Runs where the section's app (or the test's own) is on a clock the test moves. */
  manual: () => Promise<void>;
  /** Runs on the real clock. */
  real: () => Promise<void>;
}

/** What a section's tests get, once per target. */
export interface ConformanceTarget {
  readonly driver: TargetDriver;
  /**
   * The section's app on this target: deployed before the first test, drained and reset
   * after each test, closed after the last. Only set when the section names an `app`.
   */
  readonly app: DeployedApp;
  /** Deploys a copy of its own (e.g. for a kill), closed after the test that made it. */
  deploy(appDir: string, options?: DeployOptions): Promise<DeployedApp>;
  /** Whether the section's app runs on a clock the test moves (so `ClockForms.manual` runs). */
  readonly manualClock: boolean;
  /** One statement: the title says `§<kind>/<section>/<n> <operation>: <behaviour>`. */
  test(title: string, body: (() => Promise<void>) | ClockForms, options?: ConformanceTestOptions): void;
}

export interface ConformanceOptions {
  /** The app folder the section's tests share (see `fixture()`). */
  app?: string;
  /** Deploy the shared app on a manual clock where the target has one. */
  manualClock?: boolean;
  /** Runs after each test before the app is reset: let go of what a failed test left held. */
  beforeReset?: (app: DeployedApp) => Promise<unknown>;
}

/** The folder of `test/fixtures/<name>`; examples are `join(repoRoot, "examples", name)`. */
export const fixture = (name: string): string => join(repoRoot, "test", "fixtures", name);

/**
 * Rewrites the app file of a deployment with `edit` and applies it (`update()`); the
 * returned function puts the original back and applies that. An edit the target refuses
 * is put back at once, and the refusal rethrown.
 */
export async function editApp(app: DeployedApp, edit: (source: string) => string): Promise<() => Promise<void>> {
  const file = join(app.root, "nimbus.app.ts");
  const original = await readFile(file, "utf8");
  const edited = edit(original);
  expect(edited).not.toBe(original);
  await writeFile(file, edited);
  try {
    await app.update();
  } catch (error) {
    // A refused edit is put back, so the next test starts from the app as it was.
    await writeFile(file, original);
    await app.update();
    throw error;
  }
  return async () => {
    await writeFile(file, original);
    await app.update();
  };
}

// Asked once per run, before any section registers its tests.
const unavailable = new Map<TargetDriver, string | undefined>(
  await Promise.all(targets.map(async (driver) => [driver, await driver.unavailable()] as const)),
);

/**
 * A section of the suite, written once and registered once per target as
 * `[<target>] <section>`. On a target that cannot run here every test is skipped with the
 * target's reason, and under CI=true one failing test says why instead.
 */
export function conformance(
  section: string,
  options: ConformanceOptions,
  define: (target: ConformanceTarget) => void,
): void {
  for (const driver of targets) {
    describe(`[${driver.name}] ${section}`, () => defineFor(driver, options, define));
  }
}

/**
 * `body`, which on failure prints what the apps' processes last printed (where the target
 * keeps it), so a failure on CI comes with the hosts' side of it.
 */
function withOutputOnFailure(
  body: () => Promise<void>,
  apps: () => (DeployedApp | undefined)[],
): (context: TestContext) => Promise<void> {
  return async (context) => {
    context.onTestFailed(() => {
      const output = apps()
        .map((app) => app?.recentOutput?.())
        .filter(Boolean);
      if (output.length > 0) process.stderr.write(`${context.task.name}: the app's processes\n${output.join("\n")}\n`);
    });
    await body();
  };
}

function defineFor(
  driver: TargetDriver,
  options: ConformanceOptions,
  define: (target: ConformanceTarget) => void,
): void {
  const missing = unavailable.get(driver);
  if (missing && process.env.CI === "true") {
    test(`target: ${driver.name} is available`, { meta: { conformanceTarget: driver.name } }, () => {
      throw new Error(`CI=true and the ${driver.name} target cannot run: ${missing}`);
    });
  }

  let shared: DeployedApp | undefined;
  const extra: DeployedApp[] = [];
  const clock = Boolean(options.manualClock && driver.canMoveTime);
  // A section without a shared app deploys its own, on a manual clock where there is one.
  const manual = options.app ? clock : driver.canMoveTime;
  if (!missing && options.app) {
    const appDir = options.app;
    beforeAll(async () => {
      shared = await driver.deploy(appDir, { manualClock: clock });
    });
    afterAll(async () => {
      await shared?.close();
    });
    // The second idle() lets the target look at what it holds after the reset, so no test
    // inherits another's partial-batch wait.
    afterEach(async () => {
      if (!shared) return;
      await options.beforeReset?.(shared);
      await shared.idle();
      await shared.reset();
      await shared.idle();
    });
  }
  afterEach(async () => {
    for (const app of extra.splice(0)) await app.close();
  });

  define({
    driver,
    manualClock: manual,
    get app(): DeployedApp {
      if (!shared) throw new Error(`section has no shared app on ${driver.name}: pass { app } to conformance()`);
      return shared;
    },
    async deploy(appDir, deployOptions) {
      const app = await driver.deploy(appDir, deployOptions);
      extra.push(app);
      return app;
    },
    test(title, body, testOptions = {}) {
      const reason = missing
        ? `the ${driver.name} target cannot run here: ${missing}`
        : testOptions.needs === "clock" && !driver.canMoveTime
          ? `needs a clock the test moves; the ${driver.name} target runs on real time`
          : testOptions.needs === "clock" && !clock && options.app
            ? "needs a clock the test moves; the section's app was deployed on the real clock"
            : typeof body !== "function" && !manual
              ? driver.realClockForms
              : undefined;
      test(
        title,
        {
          skip: reason !== undefined,
          timeout: testOptions.timeout,
          meta: { conformanceTarget: driver.name, ...(reason ? { skipReason: reason } : {}) },
        },
        withOutputOnFailure(typeof body === "function" ? body : manual ? body.manual : body.real, () => [
          shared,
          ...extra,
        ]),
      );
    },
  });
}
