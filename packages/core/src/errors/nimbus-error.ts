/**
 * One base error for all of Nimbus. Checked with a brand rather than `instanceof`,
 * because an app, the CLI and a target can each load their own copy of this package.
 */
const brand = Symbol.for("nimbus.error");

/** `user` errors are the author's to fix and print without a stack; `system` ones are ours. */
export type ErrorKind = "user" | "system";

export interface NimbusErrorOptions {
  kind?: ErrorKind;
  cause?: unknown;
}

export class NimbusError extends Error {
  readonly [brand] = true;
  /** `NIMBUS_<AREA>_<WHAT>`, stable across releases. */
  readonly code: string;
  readonly kind: ErrorKind;

  constructor(code: string, message: string, options: NimbusErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "NimbusError";
    this.code = code;
    this.kind = options.kind ?? "user";
  }

  static is(value: unknown): value is NimbusError {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }
}
