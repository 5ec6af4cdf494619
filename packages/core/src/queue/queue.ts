import type { z } from "zod";
import type { App } from "../app/app.ts";
import { type BuildContext, Construct } from "../app/construct.ts";
import type { FunctionResource } from "../function/function.ts";
import { toJsonSchema } from "../spec/json-schema.ts";
import type { Duration } from "../units/duration.ts";
import type { Size } from "../units/size.ts";
import { type QueueSpec, queuePropsSchema, subscribeOptionsSchema } from "./spec.ts";

export interface QueueProps<Body = unknown> {
  /**
   * How long a delivered message stays hidden from other deliveries before it is
   * delivered again, unless its consumer settles it. Must not be shorter than the
   * consumer's `timeout`.
   * @default "30s"
   * @example "2 minutes"
   */
  visibilityTimeout?: Duration;
  /** Retry policy for messages whose consumer throws, times out or calls `retry()`. */
  delivery?: {
    /**
     * Deliveries before a message moves to the dead-letter queue (or is dropped without one).
     * @default 3
     * @example 5
     */
    maxAttempts?: number;
    /** Exponential back-off with jitter between `initial` and `max`. */
    backoff?: {
      /** @default "1s" @example "500ms" */
      initial?: Duration;
      /** @default "1m" @example "10 minutes" */
      max?: Duration;
    };
  };
  /**
   * Where messages go after `maxAttempts`: `true` creates a queue named `<queue>-dlq`;
   * or pass another queue.
   * @default no dead-letter queue: messages are dropped and logged
   * @example true
   */
  deadLetter?: true | Queue<Body>;
  /**
   * How long an undelivered message is kept.
   * @default "4 days"
   * @example "1 day"
   */
  retention?: Duration;
  /**
   * Largest message body, encoded.
   * @default "256KiB"
   * @example "64KiB"
   */
  maxMessageSize?: Size;
  /**
   * A zod schema every message body is checked against on send; it also types the body.
   * @default none: any JSON value or bytes
   * @example z.object({ orderId: z.string() })
   */
  schema?: z.ZodType<Body>;
}

export interface SubscribeOptions {
  /**
   * Most messages in one batch.
   * @default 10
   * @example 25
   */
  batchSize?: number;
  /**
   * How long to wait for a batch to fill; `"0s"` delivers what is ready at once.
   * @default "0s"
   * @example "1s"
   */
  maxBatchWait?: Duration;
  /**
   * Most batches in flight at once.
   * @default 1
   * @example 4
   */
  concurrency?: number;
}

/** A durable, at-least-once queue with retries and an optional dead-letter queue. */
export class Queue<Body = unknown> extends Construct {
  readonly kind = "queue" as const;
  /** Carries the message body type to bindings and consumers; never set at run time. */
  declare readonly __body: Body;
  readonly #props: QueueProps<Body> | undefined;
  readonly #consumers: { fn: unknown; options: unknown }[] = [];
  /** The queue created by `deadLetter: true`. */
  readonly deadLetterQueue: Queue<Body> | undefined;

  constructor(app: App, name: string, props?: QueueProps<Body>) {
    super(app, name);
    this.#props = props;
    this.deadLetterQueue = props?.deadLetter === true ? new Queue<Body>(app, `${name}-dlq`) : undefined;
  }

  /**
   * Makes `fn`'s `queue` handler the consumer of this queue. A queue has one consumer.
   * @example fulfilment.subscribe(fulfil, { batchSize: 10, maxBatchWait: "1s" })
   */
  subscribe(fn: FunctionResource<any, any, any>, options?: SubscribeOptions): this {
    this.#consumers.push({ fn, options });
    return this;
  }

  build(ctx: BuildContext): QueueSpec | undefined {
    const props = ctx.parse(queuePropsSchema, this.#props ?? {}, "NIMBUS_QUEUE_PROPS");

    let deadLetter: string | null = null;
    const dlq = this.#props?.deadLetter;
    if (dlq === true) deadLetter = this.deadLetterQueue?.name ?? null;
    else if (dlq !== undefined) deadLetter = ctx.ref(dlq, "deadLetter", ["queue"])?.name ?? null;

    const schema = this.#props?.schema === undefined ? null : toJsonSchema(this.#props.schema, "schema", ctx);

    const [first, ...others] = this.#consumers;
    if (others.length > 0) {
      const names = this.#consumers.map(({ fn }) => (Construct.is(fn) ? `"${fn.name}"` : "?")).join(", ");
      ctx.issue(
        "NIMBUS_QUEUE_TWO_CONSUMERS",
        "subscribe",
        `expected one consumer; found ${this.#consumers.length} (${names}). A queue has one consumer: remove all but one subscribe(), or put a bus in front to fan out`,
      );
    }
    let consumer: QueueSpec["consumer"] = null;
    if (first) {
      const fn = ctx.ref(first.fn, "subscribe", ["function"]);
      const options = ctx.parse(subscribeOptionsSchema, first.options ?? {}, "NIMBUS_QUEUE_SUBSCRIBE", "subscribe");
      if (options && fn) consumer = { function: fn.name, ...options };
    }

    if (!props) return undefined;
    const { visibilityTimeout, delivery, retention, maxMessageSize } = props;
    if (delivery.backoff.initial > delivery.backoff.max) {
      ctx.issue(
        "NIMBUS_QUEUE_BACKOFF",
        "delivery.backoff",
        `expected initial (${delivery.backoff.initial} ms) to be at most max (${delivery.backoff.max} ms); raise max or lower initial`,
      );
    }
    return { visibilityTimeout, delivery, deadLetter, retention, maxMessageSize, schema, consumer };
  }
}
