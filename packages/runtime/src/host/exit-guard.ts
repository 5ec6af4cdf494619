/**
 * A handler's `process.exit(code)` in the function role: in the emulator it ends the
 * function's worker and fails what that worker was running, with the exit named
 * (§queues/crash/2); here the handler shares the host's process. The guard turns the
 * call into the same outcome: every invocation running fails with
 * `function "<fn>" exited (code <n>) while handling this request`, so its deliveries go
 * through the normal retry path (retried, or dead-lettered with that last error); the
 * host then stops as on SIGTERM, and exits with the handler's code once stopped or after
 * {@link settleBound}, whichever comes first. The caller's code does not go on after the
 * call: it throws, as the process would have ended.
 *
 * What cannot be intercepted (an OOM kill, SIGKILL, `process.abort()`) ends the host at
 * once; its deliveries are delivered again after their visibility timeout
 * (docs/deployed-runtime.md, "Crashes").
 */

/** How long the host may take to settle what ran before it exits all the same. */
const settleBound = 5_000;

/** What a running invocation fails with once a handler exits. */
export interface HandlerExit {
  error: string;
  value?: undefined;
}

let exited: Promise<HandlerExit> | undefined;
/** Invocations running now: an exit while none runs is not a handler's to fail anything for. */
let running = 0;

/**
 * Resolves with the failure of invocation `invocation` (and every other running) once
 * handler code calls `process.exit` while it runs; never otherwise. The first call
 * installs the guard, so the host's own exits before any invocation (a failed start)
 * are not touched; an exit while nothing runs, and the host's exit after a SIGTERM,
 * pass through.
 */
export function handlerExit(fn: string, invocation: Promise<unknown>): Promise<HandlerExit> {
  exited ??= install(fn);
  running++;
  void invocation.then(
    () => running--,
    () => running--,
  );
  return exited;
}

function install(fn: string): Promise<HandlerExit> {
  const realExit = process.exit.bind(process);
  let stopping = false;
  // The host's own stop (exitOnSignal) ends with process.exit: that one is the host's.
  process.prependListener("SIGTERM", () => {
    stopping = true;
  });
  let code: number | undefined;
  const { promise, resolve } = Promise.withResolvers<HandlerExit>();
  process.exit = ((given?: string | number | null) => {
    if (code !== undefined) return realExit(code);
    if (stopping || running === 0) return realExit(given ?? undefined);
    code = typeof given === "number" ? given : Number.parseInt(String(given ?? "0"), 10) || 0;
    const error = `function "${fn}" exited (code ${code}) while handling this request`;
    resolve({ error });
    process.stderr.write(
      `${JSON.stringify({ time: new Date(), fn, level: "error", message: `${error.replace(" while handling this request", "")}: failing what runs, then stopping the host` })}\n`,
    );
    setTimeout(() => realExit(code), settleBound);
    // The same stop as a SIGTERM: consumers settle what ran, then the host exits (with `code`, above).
    setImmediate(() => process.emit("SIGTERM", "SIGTERM"));
    throw new Error(error);
  }) as typeof process.exit;
  return promise;
}
