import type { HostLogger } from "./log.ts";

/**
 * On SIGTERM (and SIGINT, for a terminal), runs `stop` once and exits 0 when it is done;
 * 1 if it failed. A second signal while stopping exits at once with 1, as a person
 * pressing Ctrl-C twice means it.
 */
export function exitOnSignal(stop: () => Promise<void>, logger: HostLogger): void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      logger.warn(`${signal} again while stopping: exiting now`);
      process.exit(1);
    }
    stopping = true;
    logger.info(`${signal}: stopping`);
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error(`stopping failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

/**
 * Keeps the host alive through what handler code leaves behind: an uncaught exception or
 * an unhandled rejection is logged (with the invocation it came from, when known) and
 * the host goes on; the work it belonged to fails by its timeout and is delivered again.
 */
export function surviveHandlerErrors(fn: string | undefined, logger: HostLogger): void {
  const report = (what: string, error: unknown) =>
    logger.log({
      fn,
      invocationId: logger.currentInvocation,
      level: "error",
      message: `${what}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    });
  process.on("uncaughtException", (error) => report("uncaught exception", error));
  process.on("unhandledRejection", (reason) => report("unhandled rejection", reason));
}
