#!/usr/bin/env node
/**
 * The Nimbus store as a service: `node main.js`, configured only by its environment
 * (`storeVariables` in config.ts lists every variable). Logs are JSON lines on stdout.
 * SIGTERM stops accepting connections, answers the requests in flight and exits 0.
 */
import { NimbusError } from "@nimbus/core";
import { readStoreConfig } from "./config.ts";
import { type StoreLog, startStoreService } from "./service.ts";

const log: StoreLog = (level, message) =>
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, service: "store", message })}\n`);

try {
  const service = await startStoreService(readStoreConfig(), log);
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      log("warn", `${signal} again while stopping: exiting now`);
      process.exit(1);
    }
    stopping = true;
    log("info", `${signal}: stopping`);
    service.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        log("error", `stopping failed: ${(error as Error).stack ?? error}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
} catch (error) {
  // A user error (the environment, a port in use) is printed without a stack.
  log(
    "error",
    NimbusError.is(error) && error.kind === "user" ? error.message : String((error as Error).stack ?? error),
  );
  process.exit(1);
}
