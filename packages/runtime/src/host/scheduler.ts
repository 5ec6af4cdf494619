/**
 * The control role's scheduler on JetStream: each schedule fires at the times core's
 * `nextRuns` gives (its compiled form: cron in its time zone, rates and intervals at
 * whole multiples since the epoch), as the emulator's schedule plugin does
 * (docs/semantics.md "Schedules").
 *
 * One tick once, with any number of control replicas. Each schedule has a key (its name)
 * in the schedule-tick KV bucket (core's `scheduleTickNames`, provisioned by
 * provision.ts) holding `{ tick, fired }`: the last tick claimed and whether its delivery
 * was stored. Firing tick T:
 *
 *   1. read the key (its revision R); a tick at or after T there means another replica
 *      (or an earlier run of this one) has it: nothing to do;
 *   2. claim: write `{ tick: T, fired: false }` expecting revision R (a compare-and-set:
 *      JetStream's expected last subject sequence); of two replicas, one wins, the other
 *      reads again and finds step 1 true;
 *   3. store the delivery, with the JetStream message id `<schedule>:<T>`;
 *   4. record it: write `{ tick: T, fired: true }` expecting the claim's revision.
 *
 * The guarantee (semantics restarts/1): a stored delivery is made; a tick whose claim is
 * recorded and whose delivery is not (a crash between 2 and 4) is published again by the
 * next start of any replica, or by a running replica once the claim is older than
 * `scheduleLimits.claimLease` (30 s; `claimLease` for tests), with
 * the same message id, so the stream drops it as a duplicate when the first publish did
 * get stored and the second comes within its duplicate window (60 s; 120 s for a bus);
 * later than that, the tick's target can get it twice, with the same `scheduledTime`.
 * Otherwise no tick is fired twice, by a restart or by two replicas.
 *
 * Ticks that fell due while no replica ran are skipped, not caught up; the start logs how
 * many and when the last was due, and arms from now. `trigger(name)` (and a request on
 * core's `scheduleTriggerSubject`, answered by one replica of the queue group) fires a
 * schedule once now, outside its ticks: it neither claims nor moves one.
 */
import { type JetStreamClient, type JetStreamManager, jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import {
  busNames,
  type CompiledSchedule,
  compileSchedule,
  deliveryRoute,
  type Graph,
  NimbusError,
  resourcesOf,
  type ScheduleSpec,
  scheduleExpressionOf,
  scheduleLimits,
  scheduleTickNames,
  scheduleTriggerSubject,
  toEvent,
  unknownResource,
} from "@nimbus/core";
import { detailCheck, readEntries } from "@nimbus/core/bus-entries";
import type { ScheduledController } from "../handler.ts";
import { deliveryQueuePlans, openDeliveries } from "./deliveries.ts";
import type { IdentifiedMessage, JetStreamQueues } from "./queue.ts";

/** Event fields of a tick put on a bus, as EventBridge's scheduled rules send them. */
const scheduledEvent = { source: "nimbus.schedule", detailType: "Scheduled Event" } as const;
/** The queue group of the control replicas' trigger subscriptions: one answers. */
const triggerGroup = "nimbus-control";

/** What the schedule-tick KV bucket holds per schedule. */
interface TickRecord {
  /** The last tick claimed: its due time in ms. */
  tick: number;
  /** Whether its delivery was stored. */
  fired: boolean;
  /** When it was claimed (ms). */
  claimedAt: number;
}

interface Scheduled {
  name: string;
  spec: ScheduleSpec;
  compiled: CompiledSchedule;
  timer?: NodeJS.Timeout;
  /** When the armed timer fires. */
  next?: number;
}

export interface SchedulerOptions {
  /** An open connection; the scheduler does not close it. */
  nc: NatsConnection;
  graph: Graph;
  prefix?: string;
  info: (line: string) => void;
  warn: (line: string) => void;
  error: (line: string) => void;
  /** Answer trigger requests on core's `scheduleTriggerSubject`. @default true */
  listen?: boolean;
  /**
   * Ms after which a running replica takes over a tick another claimed and did not record
   * as stored (it died in between) and publishes it again; for tests.
   * @default scheduleLimits.claimLease (30 s)
   */
  claimLease?: number;
}

/** Fires the graph's schedules; `stop()` disarms every timer and ends the trigger subscription. */
export class Scheduler {
  readonly #options: SchedulerOptions;
  readonly #js: JetStreamClient;
  readonly #jsm: JetStreamManager;
  readonly #subjects: { prefix?: string };
  readonly #ticks: ReturnType<typeof scheduleTickNames>;
  readonly #schedules = new Map<string, Scheduled>();
  readonly #queues: JetStreamQueues;
  readonly #claimLease: number;
  readonly #firing = new Set<Promise<void>>();
  #subscription: Subscription | undefined;
  #stopped = false;

  private constructor(options: SchedulerOptions, jsm: JetStreamManager, queues: JetStreamQueues) {
    this.#options = options;
    this.#js = jetstream(options.nc);
    this.#jsm = jsm;
    this.#subjects = options.prefix ? { prefix: options.prefix } : {};
    this.#ticks = scheduleTickNames(this.#subjects);
    this.#queues = queues;
    this.#claimLease = options.claimLease ?? scheduleLimits.claimLease;
    for (const { name, spec } of resourcesOf(options.graph, "schedule")) {
      this.#schedules.set(name, { name, spec, compiled: compileSchedule(scheduleExpressionOf(spec)) });
    }
  }

  /** Publishes what a crash left claimed, logs missed ticks, arms every schedule from now, listens for triggers. */
  static async start(options: SchedulerOptions): Promise<Scheduler> {
    // Ticks go through the queue driver: a send's checks and headers, with the tick's message id.
    const queues = await openDeliveries({
      nc: options.nc,
      plans: deliveryQueuePlans(options.graph, options.prefix).filter((plan) => plan.delivery.from.kind === "schedule"),
      queues: Object.fromEntries(resourcesOf(options.graph, "queue").map((queue) => [queue.name, queue.spec])),
      prefix: options.prefix,
      log: options.warn,
    });
    const scheduler = new Scheduler(options, await jetstreamManager(options.nc), queues);
    for (const scheduled of scheduler.#schedules.values()) {
      const after = await scheduler.#resume(scheduled);
      scheduler.#arm(scheduled, after);
    }
    if ((options.listen ?? true) && scheduler.#schedules.size > 0) {
      scheduler.#listen();
      // The subscription is in place on the server before the role reports ready.
      await options.nc.flush();
    }
    return scheduler;
  }

  /** When schedule `name` fires next (ms), as armed. */
  nextTick(name: string): number | undefined {
    return this.#require(name).next;
  }

  /** Fires schedule `name` once now, with `scheduledTime` now; its ticks stay as they were. */
  async trigger(name: string): Promise<{ scheduledTime: number }> {
    const scheduled = this.#require(name);
    const scheduledTime = Date.now();
    this.#options.info(`schedule ${name}: triggered by hand`);
    await this.#deliver(scheduled, scheduledTime, `${name}:${scheduledTime}:trigger`);
    return { scheduledTime };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const scheduled of this.#schedules.values()) clearTimeout(scheduled.timer);
    this.#subscription?.unsubscribe();
    await Promise.allSettled([...this.#firing]);
  }

  /** Where a schedule's ticks resume: after a claimed tick published again, skipping those missed. */
  async #resume(scheduled: Scheduled): Promise<number> {
    const now = Date.now();
    const { record, revision } = await this.#read(scheduled.name);
    if (record && !record.fired) await this.#finish(scheduled, record, revision);
    const last = record?.tick;
    if (last === undefined || last >= now) return Math.max(last ?? Number.NEGATIVE_INFINITY, now - 1);
    let missed = 0;
    let latest: number | undefined;
    const most = scheduleLimits.maxMissedCount;
    for (let at = scheduled.compiled.next(new Date(last)); at && at.getTime() < now && missed < most; ) {
      missed++;
      latest = at.getTime();
      at = scheduled.compiled.next(at);
    }
    if (missed > 0) {
      this.#options.warn(
        `schedule ${scheduled.name}: skipped ${missed === most ? `${most.toLocaleString("en")} or more` : missed} tick${missed === 1 ? "" : "s"} that fell due while no control role ran (the last at ${new Date(latest!).toISOString()}); \`nimbus trigger ${scheduled.name}\` fires one now`,
      );
    }
    return now - 1;
  }

  /** Arms the timer for the first tick after `after`. */
  #arm(scheduled: Scheduled, after: number): void {
    const next = scheduled.compiled.next(new Date(after))?.getTime();
    scheduled.next = next;
    if (next === undefined || this.#stopped) return;
    // setTimeout takes at most 2^31-1 ms; a far tick is re-armed on the way.
    const wait = Math.min(Math.max(0, next - Date.now()), 2 ** 31 - 1);
    scheduled.timer = setTimeout(() => {
      if (Date.now() < next) return this.#arm(scheduled, after);
      const firing = this.#fire(scheduled, next).finally(() => {
        this.#firing.delete(firing);
        this.#arm(scheduled, next);
      });
      this.#firing.add(firing);
    }, wait);
  }

  /** Claims tick `at` and stores its delivery, unless another replica has it. */
  async #fire(scheduled: Scheduled, at: number): Promise<void> {
    try {
      for (let tries = 0; tries < 5; tries++) {
        const { record, revision } = await this.#read(scheduled.name);
        if (record && !record.fired && record.tick < at && Date.now() - record.claimedAt > this.#claimLease) {
          // A replica claimed an earlier tick and died before storing it.
          await this.#finish(scheduled, record, revision);
          continue;
        }
        if (record && record.tick >= at) return;
        const claimed = await this.#write(scheduled.name, { tick: at, fired: false, claimedAt: Date.now() }, revision);
        if (claimed === undefined) continue;
        const late = Date.now() - at;
        this.#options.info(
          `schedule ${scheduled.name}: tick due at ${new Date(at).toISOString()} to ${scheduled.spec.target.kind} ${scheduled.spec.target.name}${late > scheduleLimits.lateAfter ? ` (${late} ms late)` : ""}`,
        );
        await this.#deliver(scheduled, at, `${scheduled.name}:${at}`);
        await this.#write(scheduled.name, { tick: at, fired: true, claimedAt: Date.now() }, claimed);
        return;
      }
      this.#options.warn(
        `schedule ${scheduled.name}: the tick due at ${new Date(at).toISOString()} could not be claimed (the tick record kept changing); another control replica fires it`,
      );
    } catch (error) {
      this.#options.error(
        `schedule ${scheduled.name}: the tick due at ${new Date(at).toISOString()} failed: ${(error as Error).message}; a control role started later publishes it again`,
      );
    }
  }

  /** Publishes a claimed tick again (deduplicated by its message id) and records it as fired. */
  async #finish(scheduled: Scheduled, record: TickRecord, revision: number): Promise<void> {
    this.#options.warn(
      `schedule ${scheduled.name}: the tick due at ${new Date(record.tick).toISOString()} was claimed but not recorded as stored (a control role stopped in between); publishing it again`,
    );
    await this.#deliver(scheduled, record.tick, `${scheduled.name}:${record.tick}`);
    await this.#write(scheduled.name, { ...record, fired: true }, revision);
  }

  /** Stores one tick's delivery with message id `msgID`; a target that refuses it drops it (logged). */
  async #deliver(scheduled: Scheduled, scheduledTime: number, msgID: string): Promise<void> {
    const { name, spec } = scheduled;
    const target = spec.target;
    const controller: ScheduledController = { schedule: name, scheduledTime };
    const payload = spec.payload ?? controller;
    const json = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
    if (target.kind === "function") {
      const message: IdentifiedMessage = { format: "json", body: json(controller), msgID, firstSeen: scheduledTime };
      await this.#queues.sendWithIds(deliveryRoute(name, target).label, [message]);
      return;
    }
    let publish: () => Promise<unknown>;
    try {
      if (target.kind === "queue") {
        const message: IdentifiedMessage = { format: "json", body: json(payload), msgID };
        this.#queues.check(target.name, [message]);
        publish = () => this.#queues.sendWithIds(target.name, [message]);
      } else {
        const bus = resourcesOf(this.#options.graph, "bus").find((resource) => resource.name === target.name)!;
        const entries = [{ ...scheduledEvent, detail: payload, resources: [name], time: new Date(scheduledTime) }];
        const [entry] = readEntries(bus.name, entries, detailCheck(bus.name, bus.spec.schema));
        const event = toEvent(entry!);
        publish = () => this.#js.publish(busNames(bus.name, this.#subjects).subject, json(event), { msgID });
      }
    } catch (error) {
      this.#options.error(
        `schedule ${name}: ${target.kind} ${target.name} refused the tick due at ${new Date(scheduledTime).toISOString()}, so it was dropped: ${(error as Error).message}`,
      );
      return;
    }
    await publish();
  }

  /** The schedule's tick record and its revision (0: none yet). */
  async #read(name: string): Promise<{ record: TickRecord | undefined; revision: number }> {
    const stored = await this.#jsm.streams.getMessage(this.#ticks.stream, {
      last_by_subj: `$KV.${this.#ticks.bucket}.${name}`,
    });
    if (!stored) return { record: undefined, revision: 0 };
    return { record: stored.json<TickRecord>(), revision: stored.seq };
  }

  /** Writes the record if the key is still at `revision`; its new revision, or undefined when another write came first. */
  async #write(name: string, record: TickRecord, revision: number): Promise<number | undefined> {
    try {
      const ack = await this.#js.publish(`$KV.${this.#ticks.bucket}.${name}`, JSON.stringify(record), {
        expect: { lastSubjectSequence: revision },
      });
      return ack.seq;
    } catch (error) {
      // 10071: wrong last sequence, i.e. another replica wrote first.
      if (/wrong last sequence|10071/i.test(String((error as Error).message))) return undefined;
      throw error;
    }
  }

  #listen(): void {
    const subject = scheduleTriggerSubject(this.#subjects);
    this.#subscription = this.#options.nc.subscribe(subject, {
      queue: triggerGroup,
      callback: (error, msg) => {
        if (error) {
          this.#options.error(`trigger requests on ${subject} cannot be taken: ${error.message}`);
          return;
        }
        const answer = (value: unknown) => msg.respond(JSON.stringify(value));
        let name: unknown;
        try {
          name = (msg.json() as { schedule?: unknown }).schedule;
        } catch {
          name = undefined;
        }
        if (typeof name !== "string") {
          answer({
            error: { code: "NIMBUS_CONTROL_BODY", message: 'a trigger request is JSON {"schedule": "<name>"}' },
          });
          return;
        }
        this.trigger(name).then(answer, (failure: unknown) =>
          answer({
            error: {
              code: NimbusError.is(failure) ? failure.code : "NIMBUS_CONTROL_FAILED",
              message: (failure as Error).message,
            },
          }),
        );
      },
    });
  }

  #require(name: string): Scheduled {
    const scheduled = this.#schedules.get(name);
    if (!scheduled) throw unknownResource("schedule", name, [...this.#schedules.keys()].sort());
    return scheduled;
  }
}
