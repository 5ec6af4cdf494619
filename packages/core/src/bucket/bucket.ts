import type { App } from "../app/app.ts";
import { type BuildContext, Construct } from "../app/construct.ts";
import type { Bus } from "../bus/bus.ts";
import {
  type BucketNotificationSpec,
  type BucketProps,
  type BucketSpec,
  bucketPropsSchema,
  type NotifyOptions,
  notifyOptionsSchema,
} from "./spec.ts";

/** An object store. Link it to a function to get a `BucketClient` in `env`. */
export class Bucket extends Construct {
  readonly kind = "bucket" as const;
  readonly #props: BucketProps | undefined;
  readonly #notifications: { bus: unknown; options: unknown }[] = [];

  constructor(app: App, name: string, props?: BucketProps) {
    super(app, name);
    this.#props = props;
  }

  /**
   * Puts an event on `bus` for every matching object created or deleted.
   * @example receipts.notify(orders, { events: ["created"], prefix: "receipts/" })
   */
  notify(bus: Bus<any>, options?: NotifyOptions): this {
    this.#notifications.push({ bus, options });
    return this;
  }

  build(ctx: BuildContext): BucketSpec | undefined {
    const props = ctx.parse(bucketPropsSchema, this.#props ?? {}, "NIMBUS_BUCKET_PROPS");
    const notifications: BucketNotificationSpec[] = [];
    this.#notifications.forEach(({ bus, options }, index) => {
      const field = `notify[${index}]`;
      const ref = ctx.ref(bus, field, ["bus"]);
      const opts = ctx.parse(notifyOptionsSchema, options ?? {}, "NIMBUS_BUCKET_NOTIFY", field);
      if (opts && ref) notifications.push({ bus: ref.name, ...opts });
    });
    return props ? { notifications } : undefined;
  }
}
