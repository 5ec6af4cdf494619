import type { z } from "zod";
import type { ErrorCode } from "../errors/codes.ts";
import type { ResourceKind, ResourceRef } from "../spec/ref.ts";
import type { App } from "./app.ts";

/** What a construct gets while its spec is built: a place to report problems and resolve references. */
export interface BuildContext {
  /** Reports a problem on this construct's `field`. */
  issue(code: ErrorCode, field: string, message: string): void;
  /**
   * Parses `value` with a props schema: the output, or undefined after reporting every
   * issue under `code`, with fields below `prefix`.
   */
  parse<T>(schema: z.ZodType<T>, value: unknown, code: ErrorCode, prefix?: string): T | undefined;
  /**
   * Resolves `value` to a reference when it is a construct of this app of one of the
   * `allowed` kinds; otherwise reports why on `field` and returns undefined.
   */
  ref(value: unknown, field: string, allowed: readonly ResourceKind[]): ResourceRef | undefined;
}

const constructBrand = Symbol.for("nimbus.construct");

/** Base of every resource an author declares. Constructors never throw; `app.toGraph()` reports. */
export abstract class Construct {
  readonly [constructBrand] = true;
  abstract readonly kind: ResourceKind;
  readonly name: string;
  readonly app: App;

  constructor(app: App, name: string) {
    this.app = app;
    this.name = name;
    app.register(this);
  }

  /** The normalised spec, or undefined when the props have problems (reported on `ctx`). */
  abstract build(ctx: BuildContext): object | undefined;

  static is(value: unknown): value is Construct {
    return typeof value === "object" && value !== null && (value as Record<symbol, unknown>)[constructBrand] === true;
  }
}
