import { type ErrorCode, type ErrorKind, errorCodes } from "./codes.ts";

/**
 * One base error for all of Nimbus. Checked with a brand rather than `instanceof`,
 * because an app, the CLI and a target can each load their own copy of this package.
 */
const brand = Symbol.for("nimbus.error");

export type { ErrorKind };

export interface NimbusErrorOptions {
  /** Overrides the catalogue's kind for this one error (a user code failing on our side). */
  kind?: ErrorKind;
  cause?: unknown;
}

export class NimbusError extends Error {
  readonly [brand] = true;
  /** `NIMBUS_<AREA>_<WHAT>`, stable across releases; each is listed in `errors/codes.ts`. */
  readonly code: ErrorCode;
  readonly kind: ErrorKind;

  constructor(code: ErrorCode, message: string, options: NimbusErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "NimbusError";
    this.code = code;
    // A code from another version of Nimbus (over a worker's or a host's wire) counts as the user's.
    this.kind = options.kind ?? errorCodes[code]?.kind ?? "user";
  }

  static is(value: unknown): value is NimbusError {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[brand] === true;
  }
}
