import type { Duration } from "@nimbus/core";

/** A duration string, or seconds. */
export type Delay = Duration | number;

export interface QueueSendOptions {
  /** Hold the message back this long before it can be delivered. */
  delay?: Delay;
}

/** The binding a function gets in `env` for a linked queue. Shapes follow Workers' Queues. */
export interface QueueClient<Body = unknown> {
  /** Body: JSON-serialisable data or bytes; checked against the queue's schema when it has one. */
  send(body: Body, options?: QueueSendOptions): Promise<void>;
  sendBatch(messages: readonly ({ body: Body } & QueueSendOptions)[]): Promise<void>;
}

/** One delivered message. Settle it with `ack()` or `retry()`; unsettled ones are acked when the handler returns. */
export interface Message<Body = unknown> {
  readonly id: string;
  readonly body: Body;
  /** 1 on the first delivery. */
  readonly attempts: number;
  /** When it was first sent. */
  readonly timestamp: Date;
  ack(): void;
  /** Deliver it again after the delay (default: the queue's back-off). */
  retry(options?: { delay?: Delay }): void;
}

export interface MessageBatch<Body = unknown> {
  readonly queue: string;
  readonly messages: readonly Message<Body>[];
  ackAll(): void;
  retryAll(options?: { delay?: Delay }): void;
}
