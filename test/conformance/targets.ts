import type { TargetDriver } from "./driver.ts";
import { dockerDriver } from "./drivers/docker.ts";
import { emulatorDriver } from "./drivers/emulator.ts";
import { processesDriver } from "./drivers/processes.ts";

/**
 * Every target the conformance suite runs against, in order. A new target registers here;
 * its `unavailable()` decides, per run, whether its tests run or are skipped (failed under
 * CI=true) with the reason it gives.
 */
export const targets: readonly TargetDriver[] = [emulatorDriver, processesDriver, dockerDriver];
