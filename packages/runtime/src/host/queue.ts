/**
 * Queues on NATS JetStream (server 2.9 and later), with the semantics of
 * docs/semantics.md "Queues". The choices, and why:
 *
 * Layout (names from core's `queueNames`, or `deliveryNames` for a delivery queue given
 * by the `names` option; shared with provisioning and permissions).
 * One stream per queue, `queue-<name>` (with the prefix), work-queue retention (an ack
 * deletes the message for good), file storage, `max_age` = `retention`, `max_msg_size`
 * = `maxMessageSize` plus room for our headers. Its subjects, under `nimbus.q.<stream>`:
 *   - `ready.new`            deliverable messages (sent, retried, redriven);
 *   - `ready.dead.<source>`  deliverable dead letters that died in the queue whose stream is `<source>`;
 *   - `delayed.new`, `delayed.dead.<source>`  the same, not deliverable before their `Nimbus-Not-Before`.
 * Two durable pull consumers: `consumer` (filter `ready.>`, ack wait = `visibilityTimeout`)
 * feeds the queue's consumer function; `delays` (filter `delayed.>`) holds each delayed
 * message with `nak(remaining)` and, once due, publishes it to `ready.*` and acks it.
 * So a delay never holds back later messages (2.9 has no per-message schedules), and
 * every JetStream delivery on `consumer` is a real delivery to the function.
 *
 * A message's own state travels in headers (queue-headers.ts), since a retry is a new
 * JetStream message: `Nimbus-Id` (a UUID, the same on every delivery), `Nimbus-First-Seen` (ms of the first
 * send), `Nimbus-Attempts` (deliveries before this copy), `Nimbus-Copy` (how many times
 * it was published; `Nats-Msg-Id` is `<id>` on the send and `<id>.<copy>` after, so the
 * stream's duplicate window drops a publish repeated after a lost reply),
 * `Nimbus-Format`, `Nimbus-Not-Before`, `Nimbus-Last-Error` (URI-encoded: a header is
 * one line), for dead letters `Nimbus-Dead-From` and `Nimbus-Dead-Attempts`, and
 * `Nimbus-Chain`, the chain of the invocation that sent it (docs/semantics.md "Recursive
 * loops"): retries and dead letters keep it; a redrive drops it.
 *
 * Attempts. `attempts` = `Nimbus-Attempts` + JetStream's delivery count of this copy, so
 * a delivery whose host died (ack wait expired) counts, as semantics require. We never
 * nak on `consumer`: a delivery count above 1 therefore always means the previous
 * delivery was not settled in time, and it is decided as a failed delivery with the
 * error `visibility timeout expired (…)` before anything else: back-off (the message
 * goes to `delayed.*`), or dead letter / drop when that was the last attempt. So a
 * consumer that keeps crashing at its last attempt still ends in the dead-letter queue,
 * without max-deliveries advisories (`max_deliver` is unlimited).
 *
 * Settling. Every outcome goes through core's `decideDelivery`. An ack is an ack
 * confirmed by the server (`+ACK` as a request; a batch's acks go out together and are
 * awaited under one timer). A retry publishes the message again
 * (to `delayed.*` with a not-before time when the decision waits, else `ready.*`) with
 * its new attempts and last error, then acks the old copy; a dead letter publishes to
 * the dead-letter queue's `ready.dead.<source>`, then acks. A crash between the publish
 * and the ack duplicates a message, never loses one (at least once). An outcome that
 * comes at or after `visibilityTimeout` from the delivery is ignored (JetStream delivers
 * the message again).
 *
 * Batches. One puller per consumer, and at most `concurrency` batches in the handler: it
 * pulls only while a slot is free, so waiting messages stay in the stream (a slot frees
 * when the handler returns, while the batch's acks are still being confirmed). A batch is
 * what is deliverable at once (`no_wait` pull), or, when nothing is, the first message
 * of a long poll; with `maxBatchWait` above 0 it then waits for the rest with pulls
 * that expire when the oldest message (its stream time on `ready.*`, i.e. since it
 * became deliverable) has waited `maxBatchWait`. Messages held meanwhile are leased
 * already: `+WPI` restarts their ack wait every half visibility timeout and once more
 * at the hand-over, from which the visibility timeout counts.
 *
 * Retention. A copy's age in JetStream restarts with each publish, so `retention` is
 * checked against `Nimbus-First-Seen` whenever a message is pulled (both consumers),
 * and dropped with a log line; in a queue no function consumes, the control role's
 * retention sweep (retention-sweep.ts) drops each message when its retention passes,
 * with the same rule and line, and `max_age` is only a backstop. In a dead-letter
 * queue the first send in the queue it died in counts (semantics retention/2).
 *
 * Provisioning and rights. The streams and durables are created by `provisionNats`
 * (provision.ts) as the admin before any host starts; this driver creates nothing, so it
 * runs under a function's NATS user (core's `natsPermissions`): it publishes only to the
 * subjects of the queues the function links and consumes, pulls with replies under the
 * user's `inboxPrefix`, and reads no other stream. The operator tools (stats, dead
 * letters, redrive), which read other streams, are `QueueAdmin` (queue-admin.ts), on an
 * admin connection.
 *
 * Schemas. A JSON body is checked against its queue's `schema` before anything is
 * published, with the check the emulator runs (`bodyCheck`, queue-schema.ts), compiled
 * when the driver opens and loaded only when a queue has a schema: it needs zod, which
 * would otherwise be a fifth of a host's memory at rest.
 *
 * Not kept on this target (documented deviations): a retried message goes to the end
 * of its queue, not before messages sent after it (ordering/2); `sendBatch` publishes
 * one message at a time and removes the ones already stored when one fails, which a
 * consumer may have received in between (send/7 "none of its messages" is best effort);
 * two hosts consuming one queue each run up to `concurrency` batches; a host that dies
 * while a batch is filling (maxBatchWait) or a pull is in transit counts a delivery for
 * messages its handler never saw. A kill -9 of nats-server 2.9 may bring acked
 * messages back (its file store writes deletions lazily; measured: a batch acked just
 * before the kill came again); a clean restart does not. `stop()` puts a message that
 * arrives after it back as a new copy, at the end of the queue, without counting it.
 */
import { randomUUID } from "node:crypto";
import {
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type PubAck,
} from "@nats-io/jetstream";
import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import {
  type Chain,
  type DeliveryPolicy,
  decideDelivery,
  formatDuration,
  NimbusError,
  type QueueSpec,
  type QueueStreamNames,
  queueLimits,
  queueNames,
} from "@nimbus/core";
import type { MessageOutcome, QueueRunPayload } from "../message-batch.ts";
import type { OutgoingMessage, QueueTransport } from "../queue.ts";
import type { BodyCheck } from "../queue-schema.ts";
import { deadLetterOf } from "./dead-letters.ts";
import { type Carried, deadSource, fromHeaders, toHeaders } from "./queue-headers.ts";
import { retentionDropLine, retentionPassed } from "./retention-sweep.ts";

/** What one delivery of a batch ended with, as the function host reports it. */
export interface DeliveryResult {
  /** What the handler settled; with `error`, those are kept (semantics thrown-error/1). */
  outcomes: MessageOutcome[];
  /**
   * Why the delivery failed: the thrown error's message, `timed out after 10s`, or the
   * crash. Unsettled messages are retried with it; a crash or timeout passes no outcomes.
   */
  error?: string;
  /**
   * Messages taken out of the batch before the handler ran and refused for good, with
   * why: a recursive loop's (docs/semantics.md "Recursive loops" 4). Each ends at once
   * in the dead-letter queue, or is dropped without one, whatever its attempts left.
   */
  refused?: { id: string; error: string }[];
}

/**
 * Runs one batch through the consumer's `queue` handler. `chains[i]` is the chain
 * `payload.messages[i]` carries: that of the invocation that sent it, or undefined.
 */
export type Deliver = (payload: QueueRunPayload, chains: readonly (Chain | undefined)[]) => Promise<DeliveryResult>;

export interface JetStreamQueuesOptions {
  /** An open connection; the driver does not close it. */
  nc: NatsConnection;
  /**
   * Every queue the driver runs, by the name its callers use, with its settings: the app's
   * queues as the graph holds them (dead-letter queues included), and delivery queues
   * under their route's label with the route's policy (deliveries.ts).
   */
  queues: Readonly<Record<string, QueueSpec>>;
  /**
   * The JetStream names of the queues that are not app queues, by the name `queues` gives
   * them: a delivery queue's `deliveryNames(...)`. Every other queue is named by core's
   * `queueNames`.
   * @default {}
   * @example { "orders/paid → function fulfil": deliveryNames("orders_paid_function_fulfil") }
   */
  names?: Readonly<Record<string, QueueStreamNames>>;
  /**
   * Put before every stream name, so two apps or stages never share a stream.
   * @default none
   * @example "prod-shop"
   */
  prefix?: string;
  /**
   * The inbox prefix the connection was opened with (`connect({ inboxPrefix })`), for the
   * pull requests' reply subjects: a function's user may read only its own
   * (`natsInboxPrefix(user)`).
   * @default "_INBOX"
   * @example "_INBOX_function-worker"
   */
  inboxPrefix?: string;
  /**
   * Where drops and ignored outcomes are reported.
   * @default console.warn
   */
  log?: (line: string) => void;
  /** For the back-off's jitter. @default Math.random */
  random?: () => number;
}

/**
 * A message the caller names itself, for a store repeated after a crash: the control
 * role's router and scheduler publish a delivery again with the same id when they died
 * before recording it, and the stream's duplicate window drops the repeat.
 */
export interface IdentifiedMessage extends OutgoingMessage {
  /**
   * The JetStream message id (`Nats-Msg-Id`), unique for what it stores.
   * @example "4f0c…:orders_paid_function_fulfil"
   */
  msgID: string;
  /**
   * When it was first sent (ms), what retention counts from: a bus event's put time, a
   * tick's due time.
   * @default now
   */
  firstSeen?: number;
  /**
   * The chain it carries (a rule's delivery keeps that of the invocation that put the event).
   * @default none: it belongs to no chain
   */
  chain?: Chain;
}

/** A dead letter stored at once, without a delivery: an event its rule's target refused. */
export interface RefusedMessage {
  /**
   * Its `Nimbus-Id`, kept when a redrive sends a refused letter back.
   * @default a new UUID
   */
  id?: string;
  /**
   * Its `Nimbus-Copy`: how many times it was published before, so a later redrive's message id is new.
   * @default 0
   */
  copy?: number;
  body: Uint8Array;
  /** When it was first sent (ms): the event's put time. */
  firstSeen: number;
  msgID: string;
  /** Where it died, as `deadLettered()` reports it: the route's label, `orders/paid → queue audit`. */
  from: string;
  /** The name of the dead-letter slot it waits in (`ready.dead.<source>`): the route's `deliveryNames(key).stream`. */
  source: string;
  /** Why it was refused: its last error. */
  error: string;
  /**
   * The chain of the event's put, which a dead letter keeps.
   * @default none
   */
  chain?: Chain;
}

/** A running loop, stopped by `stop()` (which resolves once its running deliveries ended). */
export interface Running {
  stop(): Promise<void>;
}

/**
 * How long an idle pull waits on the server; also the longest `stop()` waits for one. Not a
 * whole second: a retry after whole seconds, counted from about when a long poll began,
 * would fall due just as one expires (see `expiryGrace`) far more often than by chance.
 */
const longPoll = 970;
/**
 * A pull that expires is given up this long after its expiry when the server's 408 did not
 * come: nats-server 2.9 ends an expired request without a word when a message arrives just
 * as it expires (and the message stays in the stream), so waiting longer only delays that
 * message. A 408 that comes later still is stale: see `PullInbox`.
 */
const expiryGrace = 100;
/** A `no_wait` pull, which the server answers at once, is given up this long after it was sent (a lost reply). */
const answerGrace = 2_000;
/** Before trying again after a failed pull (the server restarting). */
const pauseAfterError = 250;
const ns = 1_000_000;
/** How long the acks of a batch wait for the server's confirmation. */
const ackTimeout = 5_000;

/** One pulled message with what its ack subject says. */
interface Pulled {
  msg: Msg;
  /** JetStream's delivery count of this copy on its consumer. */
  deliveries: number;
  /** Its stream sequence: send order. */
  seq: number;
  /** When JetStream stored this copy (ms). */
  storedAt: number;
  receivedAt: number;
}

/**
 * The queues of one app on JetStream, as a function host runs them: `transport` sends,
 * `consume` runs a queue's consumer, `moveDelayed` moves the delayed messages of a queue
 * nobody consumes. The streams must exist (`provisionNats`); the tools' view is
 * `QueueAdmin`. Safe to run in several hosts at once.
 */
export class JetStreamQueues {
  readonly #nc: NatsConnection;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #queues: Readonly<Record<string, QueueSpec>>;
  readonly #names: Readonly<Record<string, QueueStreamNames>>;
  readonly #prefix: string | undefined;
  readonly #inboxPrefix: string | undefined;
  readonly #log: (line: string) => void;
  readonly #random: () => number;
  readonly #running = new Set<Running>();
  /** The schema check of each queue that has a schema. */
  readonly #checks: ReadonlyMap<string, BodyCheck>;
  /** Where pulled messages and ack confirmations come back; opened on the first pull. */
  #replies: Replies | undefined;

  private constructor(options: JetStreamQueuesOptions, jsm: JetStreamManager, checks: ReadonlyMap<string, BodyCheck>) {
    this.#nc = options.nc;
    this.#checks = checks;
    this.#js = jetstream(options.nc);
    this.#jsm = jsm;
    this.#queues = options.queues;
    this.#names = options.names ?? {};
    this.#prefix = options.prefix;
    this.#inboxPrefix = options.inboxPrefix;
    this.#log = options.log ?? ((line) => console.warn(line));
    this.#random = options.random ?? Math.random;
  }

  /** The driver over `options.nc`; the queues' streams and durables must exist (`provisionNats`). */
  static async open(options: JetStreamQueuesOptions): Promise<JetStreamQueues> {
    const checks = new Map<string, BodyCheck>();
    const withSchema = Object.entries(options.queues).filter(([, spec]) => spec.schema);
    if (withSchema.length > 0) {
      const { bodyCheck } = await import("../queue-schema.ts");
      for (const [name, spec] of withSchema) checks.set(name, bodyCheck(name, spec.schema)!);
    }
    return new JetStreamQueues(options, await jetstreamManager(options.nc), checks);
  }

  /**
   * The names a queue has on JetStream: those `options.names` gives it, else core's
   * `queueNames` (permissions and provisioning share both).
   */
  names(queue: string): QueueStreamNames {
    return this.#names[queue] ?? queueNames(queue, this.#prefix ? { prefix: this.#prefix } : {});
  }

  /** The transport a `queueClient` of `queue` sends through. */
  transport(queue: string): QueueTransport {
    return { send: (messages, chain) => this.send(queue, messages, chain) };
  }

  /**
   * Stores `messages` in `queue`, in order; resolves once the server has stored every one
   * (file storage, acknowledged publishes). Nothing is stored when one message is too
   * large, its JSON body does not match the queue's schema, or its delay is out of range.
   * `chain`: that of the sending invocation, carried by every message (absent outside one).
   */
  async send(queue: string, messages: readonly OutgoingMessage[], chain?: Chain): Promise<void> {
    this.check(queue, messages);
    if (messages.length === 0) return;
    const names = this.names(queue);
    // The message id is the message's own, so the `<id>.<copy>` of its retries never meets another's.
    const published = await Promise.allSettled(this.#publish(names, messages, (_, id) => id, chain));
    const failed = published.find((result) => result.status === "rejected");
    if (!failed) return;
    // No atomic batch before JetStream 2.11: take back what was stored.
    for (const result of published) {
      if (result.status === "fulfilled") {
        await this.#jsm.streams.deleteMessage(names.stream, result.value.seq, false).catch(() => {});
      }
    }
    throw new NimbusError(
      "NIMBUS_QUEUE_SEND",
      `queue "${queue}": the send failed and stored none of its ${messages.length} message(s): ${(failed.reason as Error).message}`,
    );
  }

  /**
   * `send` with the caller's message ids: the same checks and headers, each message
   * published with its `msgID` and `firstSeen`. A failure takes nothing back: what was
   * stored stays, and sending the same messages again (within the stream's duplicate
   * window) stores only the rest. The publishes are issued before the first await, so
   * calls made one after the other store in that order.
   */
  async sendWithIds(queue: string, messages: readonly IdentifiedMessage[]): Promise<void> {
    this.check(queue, messages);
    await Promise.all(this.#publish(this.names(queue), messages, (message) => message.msgID));
  }

  /**
   * Throws what a send of `messages` to `queue` would be refused for, storing nothing: an
   * unknown queue, too many messages, one too large, a JSON body its schema refuses, a
   * delay out of range. For the control role, to tell a refusal from a failed store.
   */
  check(queue: string, messages: readonly OutgoingMessage[]): void {
    const spec = this.#spec(queue);
    if (messages.length > queueLimits.maxBatchSend) {
      throw new NimbusError(
        "NIMBUS_QUEUE_BATCH",
        `queue "${queue}": sendBatch takes at most ${queueLimits.maxBatchSend} messages; found ${messages.length}. Send in batches of ${queueLimits.maxBatchSend}.`,
      );
    }
    for (const [index, message] of messages.entries()) {
      if (message.body.byteLength > spec.maxMessageSize) {
        throw new NimbusError(
          "NIMBUS_QUEUE_MESSAGE_TOO_LARGE",
          `queue "${queue}": message ${index + 1} is ${message.body.byteLength.toLocaleString("en")} bytes; the queue's maxMessageSize is ${spec.maxMessageSize.toLocaleString("en")}. Store large payloads in a bucket and send the key.`,
        );
      }
      if (message.format === "json") this.#checks.get(queue)?.(message.body, index);
      const delay = message.delay ?? 0;
      if (!(delay >= 0 && delay <= queueLimits.maxDelay)) {
        throw new NimbusError(
          "NIMBUS_QUEUE_DELAY",
          `queue "${queue}": a delay is 0s to 12h; message ${index + 1} asks for ${delay} ms`,
        );
      }
    }
  }

  /**
   * Stores dead letters that died without a delivery straight into dead-letter queue
   * `deadLetter`, each in its `source` slot with 1 attempt and its refusal as the last
   * error (semantics buses/retries/3); resolves once the server stored them. Like a dead
   * letter the driver moves, it is not checked against the queue's size or schema.
   */
  async deadLetter(deadLetter: string, letters: readonly RefusedMessage[]): Promise<void> {
    this.#spec(deadLetter);
    const names = this.names(deadLetter);
    await Promise.all(
      letters.map((letter) => {
        const carried = deadLetterOf(
          {
            id: letter.id ?? randomUUID(),
            format: "json",
            firstSeen: letter.firstSeen,
            copy: (letter.copy ?? 0) - 1,
            ...(letter.chain ? { chain: letter.chain } : {}),
          },
          { from: letter.from, attempts: 1, error: letter.error },
        );
        return this.#js.publish(names.deadLetter(letter.source), letter.body, {
          headers: toHeaders(carried),
          msgID: letter.msgID,
        });
      }),
    );
  }

  /**
   * Publishes checked messages in order, deliverable now or delayed: the one path of
   * `send` and `sendWithIds`. Each carries its own chain, else `chain`.
   */
  #publish<M extends OutgoingMessage & { firstSeen?: number; chain?: Chain }>(
    names: QueueStreamNames,
    messages: readonly M[],
    msgID: (message: M, id: string) => string,
    chain?: Chain,
  ): Promise<PubAck>[] {
    const now = Date.now();
    // Published together: one connection keeps their order, and the acks come back in one round trip.
    return messages.map((message) => {
      const id = randomUUID();
      const delay = message.delay ?? 0;
      const carried: Carried = {
        id,
        format: message.format,
        firstSeen: message.firstSeen ?? now,
        attempts: 0,
        copy: 0,
        notBefore: now + delay,
      };
      const carries = message.chain ?? chain;
      if (carries) carried.chain = carries;
      return this.#js.publish(delay > 0 ? names.delayed : names.ready, message.body, {
        headers: toHeaders(carried),
        msgID: msgID(message, id),
      });
    });
  }

  /**
   * Delivers `queue`'s messages to `deliver` with the queue's consumer settings (batch
   * size, batch wait, concurrency), and moves its delayed messages when they fall due.
   */
  consume(queue: string, deliver: Deliver): Running {
    const spec = this.#spec(queue);
    if (!spec.consumer) {
      throw new NimbusError(
        "NIMBUS_QUEUE_NO_CONSUMER",
        `queue "${queue}" has no consumer in the graph; subscribe a function to it in the app file.`,
      );
    }
    const loops = [this.#consumeLoop(queue, spec, deliver), this.#delaysLoop(queue)];
    return this.#track({ stop: async () => void (await Promise.all(loops.map((loop) => loop.stop()))) });
  }

  /** Moves `queue`'s delayed messages to its deliverable ones when due; for a queue nobody consumes here. */
  moveDelayed(queue: string): Running {
    this.#spec(queue);
    return this.#track(this.#delaysLoop(queue));
  }

  /** Stops every loop this driver started; the connection stays open. */
  async close(): Promise<void> {
    await Promise.all([...this.#running].map((running) => running.stop()));
    this.#replies?.close();
    this.#replies = undefined;
  }

  get #inbox(): Replies {
    this.#replies ??= new Replies(this.#nc, this.#inboxPrefix);
    return this.#replies;
  }

  #track(running: Running): Running {
    const tracked: Running = {
      stop: async () => {
        this.#running.delete(tracked);
        await running.stop();
      },
    };
    this.#running.add(tracked);
    return tracked;
  }

  #spec(queue: string): QueueSpec {
    const spec = this.#queues[queue];
    if (!spec) {
      throw new NimbusError(
        "NIMBUS_QUEUE_UNKNOWN",
        `queue "${queue}" is not in the app's graph (known: ${Object.keys(this.#queues).join(", ") || "none"}).`,
      );
    }
    return spec;
  }

  #policy(spec: QueueSpec): DeliveryPolicy {
    return { maxAttempts: spec.delivery.maxAttempts, backoff: spec.delivery.backoff, deadLetter: spec.deadLetter };
  }

  /** The puller of one queue's consumer: see "Batches" at the top of this file. */
  #consumeLoop(queue: string, spec: QueueSpec, deliver: Deliver): Running {
    const consumer = spec.consumer!;
    const { stream, consumer: durable } = this.names(queue);
    /** Handlers running: at most `concurrency`. */
    const inFlight = new Set<Promise<void>>();
    /** Batches not yet settled, handlers running or not: what `stop()` waits for. */
    const settling = new Set<Promise<void>>();
    const track = (running: Promise<void>) => {
      settling.add(running);
      void running.finally(() => settling.delete(running));
    };
    // A message of a pull given up on that came while no pull ran: back in the queue as it was.
    const inbox = new PullInbox(this.#nc, this.#inboxPrefix, (item) =>
      track(
        this.#giveBack(queue, spec, item).catch((error: unknown) => {
          this.#log(
            `queue "${queue}": putting back a late message failed; it comes again: ${(error as Error).message}`,
          );
        }),
      ),
    );
    let stopping = false;
    let freed: (() => void) | undefined;

    const collect = async (): Promise<Pulled[]> => {
      let batch = await this.#pull(inbox, stream, durable, { batch: consumer.batchSize, noWait: true });
      while (batch.length === 0 && !stopping) {
        batch = await this.#pull(inbox, stream, durable, { batch: 1, expires: longPoll });
        if (batch.length > 0 && batch.length < consumer.batchSize) {
          // What arrived with the first one, at once.
          batch.push(...(await this.#pull(inbox, stream, durable, { batch: consumer.batchSize - 1, noWait: true })));
        }
      }
      if (batch.length === 0 || consumer.maxBatchWait === 0) return batch;
      const oldest = Math.min(...batch.map((pulled) => pulled.storedAt));
      let waited = false;
      while (batch.length < consumer.batchSize && !stopping) {
        const wait = oldest + consumer.maxBatchWait - Date.now();
        if (wait <= 0) break;
        // The messages held meanwhile are leased: their ack wait is reset in steps, so a
        // batch wait longer than the visibility timeout does not deliver them twice.
        if (waited) await Promise.all(batch.map((pulled) => this.#progress(pulled)));
        const step = Math.min(wait, spec.visibilityTimeout / 2);
        batch.push(
          ...(await this.#pull(inbox, stream, durable, { batch: consumer.batchSize - batch.length, expires: step })),
        );
        waited = true;
      }
      if (waited) {
        // The visibility timeout runs from the hand-over to the consumer.
        await Promise.all(batch.map((pulled) => this.#progress(pulled)));
        const now = Date.now();
        for (const pulled of batch) pulled.receivedAt = now;
      }
      return batch;
    };

    const loop = (async () => {
      while (!stopping && !this.#nc.isClosed()) {
        if (inFlight.size >= consumer.concurrency) {
          await new Promise<void>((resolve) => {
            freed = resolve;
          });
          continue;
        }
        let batch: Pulled[];
        try {
          batch = await collect();
        } catch (error) {
          if (!stopping)
            this.#log(`queue "${queue}": pulling a batch failed, trying again: ${(error as Error).message}`);
          await pause(pauseAfterError);
          continue;
        }
        if (stopping) {
          // Taken after stop(): back in the queue without counting a delivery.
          await Promise.all(batch.map((pulled) => this.#giveBack(queue, spec, pulled)));
          break;
        }
        if (batch.length === 0) continue;
        // The slot is the handler's: it is free once the handler is done, while the batch's
        // outcomes are still being confirmed, so the next pull overlaps with that round trip.
        const slot = Promise.withResolvers<void>();
        const run = this.#deliverBatch(queue, spec, batch, deliver, slot.resolve)
          .catch((error: unknown) => {
            this.#log(
              `queue "${queue}": settling a batch failed; its messages come again: ${(error as Error).message}`,
            );
          })
          .finally(slot.resolve);
        track(run);
        inFlight.add(slot.promise);
        void slot.promise.then(() => {
          inFlight.delete(slot.promise);
          freed?.();
          freed = undefined;
        });
      }
    })();

    return {
      stop: async () => {
        stopping = true;
        freed?.();
        await loop;
        inbox.close();
        await Promise.all(settling);
      },
    };
  }

  /**
   * One batch: decide crash redeliveries and expired ones, deliver the rest, settle each.
   * `delivered` is called once the handler is done, before the outcomes are settled.
   */
  async #deliverBatch(
    queue: string,
    spec: QueueSpec,
    pulled: Pulled[],
    deliver: Deliver,
    delivered: () => void,
  ): Promise<void> {
    const policy = this.#policy(spec);
    const deliverable: { pulled: Pulled; carried: Carried; attempts: number }[] = [];
    await Promise.all(
      pulled.map(async (item) => {
        const carried = fromHeaders(item.msg.headers);
        if (await this.#expired(queue, spec, item, carried)) return;
        if (await this.#settleUnsettled(queue, spec, item, carried)) return;
        deliverable.push({ pulled: item, carried, attempts: carried.attempts + item.deliveries });
      }),
    );
    if (deliverable.length === 0) return;
    // Send order within the batch (ordering/1).
    deliverable.sort((a, b) => a.pulled.seq - b.pulled.seq);
    const payload: QueueRunPayload = {
      queue,
      messages: deliverable.map(({ pulled: item, carried, attempts }) => ({
        id: carried.id,
        // A copy as a plain Uint8Array: the client hands out Buffers, which may share a larger pool.
        body: new Uint8Array(item.msg.data),
        format: carried.format,
        attempts,
        firstSeen: carried.firstSeen,
      })),
    };
    let result: DeliveryResult;
    try {
      result = await deliver(
        payload,
        deliverable.map(({ carried }) => carried.chain),
      );
    } catch (error) {
      result = { outcomes: [], error: (error as Error)?.message ?? String(error) };
    }
    delivered();
    const outcomes = new Map(result.outcomes.map((outcome) => [outcome.id, outcome]));
    const refused = new Map((result.refused ?? []).map((refusal) => [refusal.id, refusal.error]));
    const settledAt = Date.now();
    const acked: Pulled[] = [];
    // Each callback decides before its first await, so `acked` is complete once they are issued.
    const failures = deliverable.map(async ({ pulled: item, carried, attempts }) => {
      if (settledAt >= item.receivedAt + spec.visibilityTimeout) {
        this.#log(
          `queue "${queue}": message ${carried.id} was not settled within its visibility timeout (${formatDuration(spec.visibilityTimeout)}); it will be delivered again`,
        );
        return;
      }
      const refusal = refused.get(carried.id);
      if (refusal !== undefined) {
        const decision = decideDelivery(policy, attempts, { type: "retry", error: refusal, final: true });
        await this.#settleFailed(queue, item, { ...carried, attempts }, decision, settledAt);
        return;
      }
      const outcome = outcomes.get(carried.id);
      if ((outcome && "ack" in outcome) || (!outcome && result.error === undefined)) {
        acked.push(item);
        return;
      }
      const error = outcome ? "retried by the consumer" : result.error!;
      const delay = outcome && "retry" in outcome ? outcome.retry.delay : undefined;
      const decision = decideDelivery(policy, attempts, { type: "retry", delay, error }, this.#random);
      await this.#settleFailed(queue, item, { ...carried, attempts }, decision, settledAt);
    });
    await Promise.all([...failures, this.#ack(...acked)]);
  }

  /** A failed delivery, decided: publish the next copy (or the dead letter), then ack this one. */
  async #settleFailed(
    queue: string,
    item: Pulled,
    carried: Carried,
    decision: ReturnType<typeof decideDelivery>,
    now: number,
  ): Promise<void> {
    const names = this.names(queue);
    // A dead letter keeps the slot of the stream it died in (its `deadLettered` source).
    const source = deadSource(names.root, item.msg.subject);
    const next: Carried = { ...carried, copy: carried.copy + 1, notBefore: 0 };
    switch (decision.action) {
      case "ack":
        return this.#ack(item);
      case "retry": {
        next.lastError = decision.error;
        next.notBefore = now + decision.after;
        const subject =
          decision.after > 0
            ? source === undefined
              ? names.delayed
              : names.delayedDeadLetter(source)
            : source === undefined
              ? names.ready
              : names.deadLetter(source);
        await this.#js.publish(subject, item.msg.data, { headers: toHeaders(next), msgID: `${next.id}.${next.copy}` });
        return this.#ack(item);
      }
      case "dead-letter": {
        const letter = deadLetterOf(carried, { from: queue, attempts: carried.attempts, error: decision.error });
        await this.#js.publish(this.names(decision.queue).deadLetter(names.stream), item.msg.data, {
          headers: toHeaders(letter),
          msgID: `${letter.id}.${letter.copy}`,
        });
        return this.#ack(item);
      }
      case "drop":
        this.#log(
          `queue "${queue}": message ${carried.id} dropped after ${carried.attempts} deliver${carried.attempts === 1 ? "y" : "ies"}: the queue has no dead-letter queue (last error: ${decision.error})`,
        );
        return this.#ack(item);
    }
  }

  /** Drops a message past its retention (retention/1); true when it did. */
  async #expired(queue: string, spec: QueueSpec, item: Pulled, carried: Carried): Promise<boolean> {
    if (!retentionPassed(carried.firstSeen, spec.retention, Date.now())) return false;
    this.#log(retentionDropLine(queue, carried.id, spec.retention));
    await this.#ack(item);
    return true;
  }

  /** The mover of one queue's delayed messages: see "Layout" at the top of this file. */
  #delaysLoop(queue: string): Running {
    const spec = this.#spec(queue);
    const names = this.names(queue);
    const moves = new Set<Promise<void>>();
    let stopping = false;
    const move = async (item: Pulled) => {
      const carried = fromHeaders(item.msg.headers);
      if (await this.#expired(queue, spec, item, carried)) return;
      const remaining = carried.notBefore - Date.now();
      if (remaining > 0) {
        item.msg.respond(`-NAK ${JSON.stringify({ delay: remaining * ns })}`);
        return;
      }
      const next: Carried = { ...carried, copy: carried.copy + 1, notBefore: 0 };
      const source = deadSource(names.root, item.msg.subject);
      await this.#js.publish(source === undefined ? names.ready : names.deadLetter(source), item.msg.data, {
        headers: toHeaders(next),
        msgID: `${next.id}.${next.copy}`,
      });
      await this.#ack(item);
    };
    const take = (item: Pulled) => {
      const moving = move(item).catch((error: unknown) => {
        this.#log(`queue "${queue}": moving a delayed message failed; it comes again: ${(error as Error).message}`);
      });
      moves.add(moving);
      void moving.finally(() => moves.delete(moving));
    };
    const inbox = new PullInbox(this.#nc, this.#inboxPrefix, take);
    const loop = (async () => {
      while (!stopping && !this.#nc.isClosed()) {
        try {
          await this.#pull(inbox, names.stream, names.delays, { batch: 256, expires: longPoll }, take);
        } catch (error) {
          if (!stopping)
            this.#log(`queue "${queue}": pulling delayed messages failed, trying again: ${(error as Error).message}`);
          await pause(pauseAfterError);
        }
      }
    })();
    return {
      stop: async () => {
        stopping = true;
        await loop;
        inbox.close();
        await Promise.all(moves);
      },
    };
  }

  /**
   * A copy JetStream delivered again (`deliveries` above 1): its previous delivery was never
   * settled (its host died or ran past the visibility timeout), so that delivery failed. Settles
   * the message as the failure decides (back-off, dead letter, drop) and returns true, or returns
   * false when it is to be delivered again at once.
   */
  async #settleUnsettled(queue: string, spec: QueueSpec, item: Pulled, carried: Carried): Promise<boolean> {
    if (item.deliveries <= 1) return false;
    const failed = carried.attempts + item.deliveries - 1;
    const error = `visibility timeout expired (delivery ${failed} was not settled within ${formatDuration(spec.visibilityTimeout)})`;
    const decision = decideDelivery(this.#policy(spec), failed, { type: "retry", error }, this.#random);
    if (decision.action === "retry" && decision.after === 0) return false;
    await this.#settleFailed(queue, item, { ...carried, attempts: failed }, decision, Date.now());
    return true;
  }

  /**
   * Puts a pulled message back as it was, without counting this delivery: a new copy, then ack.
   * A copy delivered again is first decided as `#settleUnsettled` says, as a batch would.
   */
  async #giveBack(queue: string, spec: QueueSpec, item: Pulled): Promise<void> {
    const carried = fromHeaders(item.msg.headers);
    if (await this.#settleUnsettled(queue, spec, item, carried)) return;
    const next: Carried = { ...carried, attempts: carried.attempts + item.deliveries - 1, copy: carried.copy + 1 };
    // Same subject, so a dead letter keeps its slot.
    await this.#js.publish(item.msg.subject, item.msg.data, {
      headers: toHeaders(next),
      msgID: `${next.id}.${next.copy}`,
    });
    await this.#ack(item);
  }

  /** Restarts the message's ack wait (`+WPI`, "work in progress"). */
  async #progress(item: Pulled): Promise<void> {
    await this.#nc.request(item.msg.reply!, "+WPI", { timeout: 5_000 });
  }

  /**
   * Acks the server confirmed (`+ACK` with a reply: it answers once the consumer applied
   * it, where a plain ack is only queued), so an acked message never comes back
   * (success/2), also not after a clean restart of nats-server. The acks of a batch go
   * out together and wait for their confirmations under one timer.
   */
  async #ack(...items: Pulled[]): Promise<void> {
    if (items.length === 0) return;
    const { promise, resolve, reject } = Promise.withResolvers<void>();
    let waiting = items.length;
    const subject = this.#inbox.open(() => {
      if (--waiting === 0) done();
    });
    const timer = setTimeout(
      () => done(new Error(`${waiting} of ${items.length} ack(s) were not confirmed within ${ackTimeout / 1000}s`)),
      ackTimeout,
    );
    const done = (error?: Error) => {
      clearTimeout(timer);
      this.#inbox.release(subject);
      if (error) reject(error);
      else resolve();
    };
    for (const item of items) this.#nc.publish(item.msg.reply!, "+ACK", { reply: subject });
    await promise;
  }

  /**
   * One pull request on a durable consumer, raw, for what the client's `fetch` lacks
   * here: `no_wait` (what is deliverable now) and expiries under a second. Resolves with
   * the messages once `batch` came or the server ended the request (404, 408, 409).
   */
  async #pull(
    inbox: PullInbox,
    stream: string,
    consumer: string,
    request: { batch: number; expires?: number; noWait?: boolean },
    each?: (item: Pulled) => void,
  ): Promise<Pulled[]> {
    const { promise, resolve, reject } = Promise.withResolvers<Pulled[]>();
    const got: Pulled[] = [];
    let count = 0;
    inbox.receive((msg) => {
      const status = msg.headers?.code ?? 0;
      if (status > 0) {
        if (status === 100) return; // a heartbeat
        if (status === 404 || status === 408 || status === 409) return end();
        return end(new Error(`JetStream answered the pull with ${status} ${msg.headers?.description ?? ""}`));
      }
      const item = pulledOf(msg);
      if (each) each(item);
      else got.push(item);
      if (++count >= request.batch) end();
    });
    const guard = setTimeout(() => end(), request.expires === undefined ? answerGrace : request.expires + expiryGrace);
    const end = (error?: Error) => {
      clearTimeout(guard);
      inbox.receive(undefined);
      if (error) reject(error);
      else resolve(got);
    };
    const body: Record<string, unknown> = { batch: request.batch };
    if (request.expires !== undefined) body.expires = Math.max(1, Math.round(request.expires)) * ns;
    if (request.noWait) body.no_wait = true;
    this.#nc.publish(`$JS.API.CONSUMER.MSG.NEXT.${stream}.${consumer}`, JSON.stringify(body), { reply: inbox.subject });
    return promise;
  }
}

/**
 * The reply subject of one loop's pulls, subscribed once: a subscription per pull cost a
 * subscribe and an unsubscribe for every batch. A loop's pulls run one after the other,
 * but a pull given up on (`expiryGrace`, `answerGrace`) may still be open on the server,
 * and a stale status may end the next pull early, leaving that one open. What such a pull
 * still brings is a delivery like any: the pull running takes it, and when none runs it
 * goes to `orphan`, which must settle it (never dropped: it would come back only after its
 * ack wait, counted as a failed delivery). Statuses with no pull running are dropped.
 */
class PullInbox {
  readonly subject: string;
  readonly #sub: Subscription;
  #receiver: ((msg: Msg) => void) | undefined;

  constructor(nc: NatsConnection, inboxPrefix: string | undefined, orphan: (item: Pulled) => void) {
    this.subject = createInbox(inboxPrefix);
    // Pulled messages carry their stream subject, not the inbox: they are told apart by subscription only.
    this.#sub = nc.subscribe(this.subject, {
      callback: (error, msg) => {
        if (error) return;
        if (this.#receiver) this.#receiver(msg);
        else if (!msg.headers?.code) orphan(pulledOf(msg));
      },
    });
  }

  /** Hands what arrives to `receiver` from now on; undefined ignores it. */
  receive(receiver: ((msg: Msg) => void) | undefined): void {
    this.#receiver = receiver;
  }

  close(): void {
    this.#sub.unsubscribe();
  }
}

/**
 * One subscription for the confirmations of the driver's acks, each batch's under a
 * subject of its own (`<inbox>.<n>`).
 */
class Replies {
  readonly #base: string;
  readonly #sub: Subscription;
  readonly #waits = new Map<string, (msg: Msg) => void>();
  #next = 0;

  constructor(nc: NatsConnection, inboxPrefix: string | undefined) {
    this.#base = createInbox(inboxPrefix);
    this.#sub = nc.subscribe(`${this.#base}.*`, {
      callback: (error, msg) => {
        if (!error) this.#waits.get(msg.subject)?.(msg);
      },
    });
  }

  /** A new reply subject; its messages go to `receive` until it is released. */
  open(receive: (msg: Msg) => void): string {
    const subject = `${this.#base}.${(this.#next++).toString(36)}`;
    this.#waits.set(subject, receive);
    return subject;
  }

  release(subject: string): void {
    this.#waits.delete(subject);
  }

  close(): void {
    this.#sub.unsubscribe();
  }
}

/** `$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<ns>.<pending>`, or the v2 form with domain and account hash first. */
function pulledOf(msg: Msg): Pulled {
  const tokens = (msg.reply ?? "").split(".");
  const at = tokens.length === 9 ? 4 : 6;
  return {
    msg,
    deliveries: Number(tokens[at]),
    seq: Number(tokens[at + 1]),
    storedAt: Math.floor(Number(tokens[at + 3]) / ns),
    receivedAt: Date.now(),
  };
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
