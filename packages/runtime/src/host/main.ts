/**
 * The deployed host's entry: `node main.js`, configured only by its environment (see
 * config.ts). `NIMBUS_ROLE=function` serves one function; `NIMBUS_ROLE=control` runs the
 * app's control loops (control-role.ts); `NIMBUS_ROLE=provision` creates the app's streams
 * as the admin user and exits (0 once done). A bad environment exits 1 with a message
 * naming each variable.
 */
import { NimbusError } from "@nimbus/core";
import { type HostConfig, readConfig } from "./config.ts";
import { hostLogger } from "./log.ts";
import { exitOnSignal, surviveHandlerErrors } from "./shutdown.ts";

const logger = hostLogger();

let config: HostConfig;
try {
  config = readConfig();
} catch (error) {
  logger.error(NimbusError.is(error) ? error.message : String(error));
  process.exit(1);
}

if (config.role === "provision") {
  try {
    const { provisionRole } = await import("./provision-role.ts");
    await provisionRole(config, logger);
    process.exit(0);
  } catch (error) {
    logger.error(`provisioning failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  }
}

// Registered before the start, so a SIGTERM while NATS is awaited still exits 0.
let role: { stop(): Promise<void> } | undefined;
exitOnSignal(async () => role?.stop(), logger);

try {
  if (config.role === "function") {
    logger.captureConsole(config.name);
    surviveHandlerErrors(config.name, logger);
    // A role's modules are loaded in that role only: what the others need (the AWS SDK
    // among them) is never evaluated, which keeps the host's memory down.
    const { startFunctionRole } = await import("./function-role.ts");
    role = await startFunctionRole(config, logger);
  } else {
    const { startControlRole } = await import("./control-role.ts");
    role = await startControlRole(config, logger);
  }
} catch (error) {
  logger.log({
    fn: config.role === "function" ? config.name : undefined,
    level: "error",
    message: `the host could not start: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
  });
  process.exit(1);
}
