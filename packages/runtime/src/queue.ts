import { type Chain, type Duration, NimbusError, parseDuration, queueLimits } from "@nimbus/core";

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

/** One message as a queue client hands it to its transport: the body encoded, the delay in ms. */
export interface OutgoingMessage {
  /** How `body` turns back into the value that was sent: parsed as JSON, or handed over as bytes. */
  format: "json" | "bytes";
  body: Uint8Array;
  /** Ms before the message can be delivered. @default 0 */
  delay?: number;
}

/** How a target carries a queue client's messages: the emulator's queue service, or JetStream. */
export interface QueueTransport {
  /**
   * Stores the messages, all or none; rejects with the target's error when it refuses one.
   * `chain`: that of the invocation sending them, stored with them (absent outside one).
   */
  send(messages: OutgoingMessage[], chain?: Chain): Promise<void>;
}

/**
 * The queue binding over a target's transport: bodies are encoded where they are sent
 * (JSON, or bytes as they are), so a body that cannot be sent fails in the sender's own
 * stack; the target checks sizes and schemas and stores them.
 */
export function queueClient(
  queue: string,
  transport: QueueTransport,
  /** The chain of the running invocation (`ChainStorage.getStore`), passed on with what is sent. */
  chain: () => Chain | undefined = () => undefined,
): QueueClient {
  const encode = (body: unknown, options: QueueSendOptions | undefined, index: number): OutgoingMessage => ({
    ...encodeBody(queue, body, index),
    delay: delayOf(queue, options?.delay, index),
  });
  // Async, so a body that cannot be sent rejects the promise rather than throwing.
  return {
    send: async (body, options) => transport.send([encode(body, options, 0)], chain()),
    sendBatch: async (messages) =>
      transport.send(
        messages.map((message, index) => encode(message.body, message, index)),
        chain(),
      ),
  };
}

/** A delay in ms: a duration string or seconds, as the bindings take them; from 0s to 12h. */
export function delayMs(delay: Delay | undefined): number | undefined {
  if (delay === undefined) return undefined;
  const ms = typeof delay === "number" ? delay * 1000 : parseDuration(delay);
  if (ms === undefined || !Number.isFinite(ms) || ms < 0 || ms > queueLimits.maxDelay) {
    throw new RangeError(
      `a delay must be a duration from 0s to 12h, such as "30s", or seconds; found ${typeof delay === "number" ? String(delay) : JSON.stringify(delay)}`,
    );
  }
  return ms;
}

function encodeBody(queue: string, body: unknown, index: number): Pick<OutgoingMessage, "format" | "body"> {
  // A copy of exactly the message's bytes: a view's whole buffer would travel otherwise.
  if (body instanceof Uint8Array) return { format: "bytes", body: body.slice() };
  if (body instanceof ArrayBuffer) return { format: "bytes", body: new Uint8Array(body.slice(0)) };
  let json: string | undefined;
  try {
    json = JSON.stringify(body);
  } catch (error) {
    throw new NimbusError(
      "NIMBUS_QUEUE_BODY",
      `queue "${queue}": message ${index + 1} cannot be sent as JSON: ${(error as Error).message}`,
    );
  }
  if (json === undefined) {
    throw new NimbusError(
      "NIMBUS_QUEUE_BODY",
      `queue "${queue}": message ${index + 1} is ${typeof body}, which has no JSON form. Send JSON-serialisable data or bytes.`,
    );
  }
  return { format: "json", body: new TextEncoder().encode(json) };
}

function delayOf(queue: string, delay: Delay | undefined, index: number): number | undefined {
  try {
    return delayMs(delay);
  } catch (error) {
    throw new NimbusError("NIMBUS_QUEUE_DELAY", `queue "${queue}": message ${index + 1}: ${(error as Error).message}`);
  }
}
