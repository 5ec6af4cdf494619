import { describe, expect, test } from "vitest";
import { App } from "../app/app.ts";
import type { Graph } from "../graph/schema.ts";
import { natsPermissions } from "./nats-permissions.ts";
import {
  busNames,
  deliveryNames,
  deliveryQueues,
  queueNames,
  scheduleTickNames,
  scheduleTriggerSubject,
} from "./subjects.ts";

/** Two functions that share nothing: `a` sends to `jobs` and consumes it; `b` consumes `other` and a rule's events. */
/** Whether NATS lets a subject through an allow list: `*` matches one token, a final `>` one or more. */
function allows(rules: readonly string[], subject: string): boolean {
  const tokens = subject.split(".");
  return rules.some((rule) => {
    const parts = rule.split(".");
    for (const [i, part] of parts.entries()) {
      if (part === ">") return i === parts.length - 1 && tokens.length > i;
      if (i >= tokens.length || (part !== "*" && part !== tokens[i])) return false;
    }
    return parts.length === tokens.length;
  });
}

function shop(): Graph {
  const app = new App("shop");
  const jobs = app.queue("jobs", { deadLetter: true });
  const other = app.queue("other");
  const parked = app.queue("parked");
  const orders = app.bus("orders", { deadLetter: true });
  const a = app.function("a", { handler: "./a.ts", link: { jobs, orders } });
  const b = app.function("b", { handler: "./b.ts", link: { other } });
  jobs.subscribe(a);
  other.subscribe(b);
  orders.rule("paid", { pattern: { source: ["shop"] }, targets: [b, parked] });
  app.schedule("nightly", { cron: "0 3 * * *", target: a });
  return app.toGraph();
}

describe("subjects", () => {
  test("queueNames: a queue's stream starts with its kind, so a queue never shares a bus's stream", () => {
    expect(queueNames("orders")).toMatchObject({
      stream: "queue-orders",
      ready: "nimbus.q.queue-orders.ready.new",
      delayed: "nimbus.q.queue-orders.delayed.new",
      consumer: "consumer",
      delays: "delays",
    });
    expect(queueNames("orders").deadLetter("queue-jobs")).toBe("nimbus.q.queue-orders.ready.dead.queue-jobs");
    expect(queueNames("bus-orders").stream).not.toBe(busNames("orders").stream);
    expect(queueNames("delivery-x").stream).not.toBe(deliveryNames("x").stream);
    expect(queueNames("orders", { prefix: "prod-shop" }).stream).toBe("prod-shop-queue-orders");
  });

  test("deliveryQueues: one per function target of a rule and per schedule to a function, with the bus's dead-letter queue", () => {
    const found = deliveryQueues(shop()).map((d) => ({
      label: d.route.label,
      fn: d.function,
      dlq: d.deadLetter,
      stream: d.names.stream,
    }));
    expect(found).toEqual([
      { label: "orders/paid → function b", fn: "b", dlq: "orders-dlq", stream: "delivery-orders_paid_function_b" },
      { label: "nightly → function a", fn: "a", dlq: null, stream: "delivery-nightly_function_a" },
    ]);
  });
});

describe("natsPermissions", () => {
  const users = natsPermissions(shop());
  const a = users.functions.a!;
  const b = users.functions.b!;

  test("natsPermissions: a function may send to the queues and put on the buses it links, and nowhere else", () => {
    const pa = a.permissions.publish;
    const pb = b.permissions.publish;
    expect(allows(pa, queueNames("jobs").ready) && allows(pa, queueNames("jobs").delayed)).toBe(true);
    expect(allows(pa, busNames("orders").subject)).toBe(true);
    expect(allows(pb, queueNames("other").ready)).toBe(true);
    expect(allows(pb, queueNames("jobs").ready) || allows(pb, queueNames("jobs").delayed)).toBe(false);
    expect(allows(pb, busNames("orders").subject)).toBe(false);
    expect(allows(pa, queueNames("other").ready) || allows(pa, queueNames("parked").ready)).toBe(false);
    // A sender never writes into another queue's dead letters.
    expect(allows(pb, queueNames("jobs-dlq").deadLetter(queueNames("jobs").stream))).toBe(false);
  });

  test("natsPermissions: a consumer pulls and acks only its own durables, and dead-letters only into its queue's dead-letter slot", () => {
    const pa = a.permissions.publish;
    const pb = b.permissions.publish;
    const jobs = queueNames("jobs");
    for (const subject of [
      `$JS.API.CONSUMER.MSG.NEXT.${jobs.stream}.consumer`,
      `$JS.API.CONSUMER.MSG.NEXT.${jobs.stream}.delays`,
      `$JS.API.CONSUMER.INFO.${jobs.stream}.consumer`,
      `$JS.ACK.${jobs.stream}.consumer.1.2.3.4.5`,
      `${jobs.root}.delayed.dead.queue-x`,
      queueNames("jobs-dlq").deadLetter(jobs.stream),
    ]) {
      expect(allows(pa, subject), subject).toBe(true);
      expect(allows(pb, subject), subject).toBe(false);
    }
    expect(allows(pa, queueNames("jobs-dlq").ready)).toBe(false);
    expect(allows(pa, queueNames("jobs-dlq").deadLetter("queue-other"))).toBe(false);
    const other = queueNames("other").stream;
    expect(allows(pa, `$JS.API.CONSUMER.MSG.NEXT.${other}.consumer`)).toBe(false);
    expect(allows(pa, `$JS.ACK.${other}.consumer.1.2.3.4.5`)).toBe(false);
    const delivery = deliveryNames("orders_paid_function_b");
    for (const subject of [
      `$JS.API.CONSUMER.MSG.NEXT.${delivery.stream}.consumer`,
      `$JS.ACK.${delivery.stream}.consumer.1.2.3.4.5`,
      queueNames("orders-dlq").deadLetter(delivery.stream),
    ]) {
      expect(allows(pb, subject), subject).toBe(true);
      expect(allows(pa, subject), subject).toBe(false);
    }
    // A schedule's deliveries have no dead-letter queue.
    expect(allows(pa, `$JS.API.CONSUMER.MSG.NEXT.${deliveryNames("nightly_function_a").stream}.consumer`)).toBe(true);
  });

  test("natsPermissions: no function may create, update or delete streams or consumers, or use a wildcard over everything", () => {
    for (const fn of [a, b]) {
      expect(allows(fn.permissions.publish, `$JS.API.STREAM.CREATE.${queueNames("jobs").stream}`)).toBe(false);
      expect(allows(fn.permissions.publish, `$JS.API.CONSUMER.DELETE.${queueNames("jobs").stream}.consumer`)).toBe(
        false,
      );
      for (const rule of fn.permissions.publish) {
        expect(rule).not.toMatch(/^\$JS\.API\.(STREAM|CONSUMER)\.(CREATE|UPDATE|DELETE|DURABLE|PURGE)/);
        expect(rule).not.toMatch(/^(>|\$JS\.API\.>|\$JS\.>|nimbus\.>|\$JS\.ACK\.>)$/);
        expect(rule.split(".").length, rule).toBeGreaterThan(2);
      }
      expect(fn.permissions.subscribe).toEqual([`${fn.inboxPrefix}.>`]);
    }
    expect(a.inboxPrefix).not.toBe(b.inboxPrefix);
  });

  test("natsPermissions: the control role routes buses into deliveries and targeted queues, and keeps the schedule ticks", () => {
    const control = users.control.permissions.publish;
    for (const subject of [
      `$JS.API.CONSUMER.MSG.NEXT.${busNames("orders").stream}.router`,
      busNames("orders").subject,
      deliveryNames("orders_paid_function_b").ready,
      deliveryNames("nightly_function_a").ready,
      queueNames("parked").ready,
      queueNames("orders-dlq").deadLetter("delivery-orders_paid_queue_parked"),
      `${scheduleTickNames().subjects.slice(0, -1)}nightly`,
    ]) {
      expect(allows(control, subject), subject).toBe(true);
    }
    // Queues no rule or schedule targets are the functions' own.
    expect(allows(control, queueNames("jobs").ready) || allows(control, queueNames("other").ready)).toBe(false);
    expect(allows(control, `$JS.API.CONSUMER.MSG.NEXT.${queueNames("jobs").stream}.consumer`)).toBe(false);
    expect(allows(control, `$JS.API.STREAM.CREATE.${queueNames("jobs").stream}`)).toBe(false);
  });

  test("natsPermissions: the control role reads and deletes messages only in the streams of queues nobody consumes (§queues/retention/2)", () => {
    const control = users.control.permissions.publish;
    // `parked`, `jobs-dlq` and `orders-dlq` have no consumer: the control role sweeps their retention.
    for (const queue of ["parked", "jobs-dlq", "orders-dlq"]) {
      const { stream } = queueNames(queue);
      for (const subject of [
        `$JS.API.STREAM.INFO.${stream}`,
        `$JS.API.STREAM.MSG.GET.${stream}`,
        `$JS.API.STREAM.MSG.DELETE.${stream}`,
      ]) {
        expect(allows(control, subject), subject).toBe(true);
      }
    }
    // A consumed queue's or delivery queue's messages are its consumer's, and a bus's are the router's.
    for (const stream of [
      queueNames("jobs").stream,
      queueNames("other").stream,
      deliveryNames("orders_paid_function_b").stream,
      busNames("orders").stream,
    ]) {
      for (const subject of [`$JS.API.STREAM.MSG.GET.${stream}`, `$JS.API.STREAM.MSG.DELETE.${stream}`]) {
        expect(allows(control, subject), subject).toBe(false);
      }
    }
    expect(control.filter((rule) => rule.startsWith("$JS.API.STREAM.MSG.")).every((rule) => !/[*>]/.test(rule))).toBe(
      true,
    );
    expect(allows(control, `$JS.API.STREAM.PURGE.${queueNames("jobs-dlq").stream}`)).toBe(false);
    expect(allows(control, `$JS.API.DIRECT.GET.${queueNames("jobs-dlq").stream}`)).toBe(false);
  });

  test("natsPermissions: the control role subscribes to the trigger subject and answers requests; the admin may send them (§schedules/triggering/1)", () => {
    const trigger = scheduleTriggerSubject({ prefix: "p" });
    const prefixed = natsPermissions(shop(), { prefix: "p" });
    expect(prefixed.control.permissions.subscribe).toEqual([`${prefixed.control.inboxPrefix}.>`, trigger]);
    expect(prefixed.control.permissions.allowResponses).toBe(true);
    expect(allows(prefixed.admin.permissions.publish, trigger)).toBe(true);
    for (const fn of Object.values(prefixed.functions)) {
      expect(allows(fn.permissions.publish, trigger) || allows(fn.permissions.subscribe, trigger)).toBe(false);
      expect(fn.permissions.allowResponses).toBeUndefined();
    }
    const bare = new App("bare");
    bare.bus("orders");
    const without = natsPermissions(bare.toGraph()).control.permissions;
    expect(without.subscribe).toEqual(["_INBOX_nimbus-control.>"]);
    expect(without.allowResponses).toBeUndefined();
  });

  test("natsPermissions: the store publishes only to the buses buckets notify, and exists only when one does", () => {
    const app = new App("shop");
    const orders = app.bus("orders");
    const audit = app.bus("audit");
    app.bus("quiet");
    app
      .bucket("uploads")
      .notify(orders)
      .notify(audit, { events: ["deleted"] });
    app.bucket("plain");
    app.function("f", { handler: "./f.ts", link: { orders } });
    const store = natsPermissions(app.toGraph(), { prefix: "p" }).store!;
    expect(store.user).toBe("nimbus-store");
    expect(store.permissions).toEqual({
      publish: [busNames("audit", { prefix: "p" }).subject, busNames("orders", { prefix: "p" }).subject].sort(),
      subscribe: ["_INBOX_nimbus-store.>"],
    });
    expect(allows(store.permissions.publish, busNames("quiet", { prefix: "p" }).subject)).toBe(false);
    expect(allows(store.permissions.publish, "$JS.API.STREAM.CREATE.p-bus-orders")).toBe(false);
    expect(natsPermissions(shop()).store).toBeUndefined();
  });

  test("natsPermissions: with bucketNotifications bindings, a function may publish to the buses its linked buckets notify, and there is no store user", () => {
    const app = new App("shop");
    const orders = app.bus("orders");
    const other = app.bus("other");
    const uploads = app.bucket("uploads").notify(orders);
    app.bucket("elsewhere").notify(other);
    app.function("writer", { handler: "./w.ts", link: { uploads } });
    app.function("reader", { handler: "./r.ts" });
    const bindings = natsPermissions(app.toGraph(), { prefix: "p", bucketNotifications: "bindings" });
    const writer = bindings.functions.writer!.permissions.publish;
    expect(allows(writer, busNames("orders", { prefix: "p" }).subject)).toBe(true);
    expect(allows(writer, busNames("other", { prefix: "p" }).subject)).toBe(false);
    expect(allows(bindings.functions.reader!.permissions.publish, busNames("orders", { prefix: "p" }).subject)).toBe(
      false,
    );
    expect(bindings.store).toBeUndefined();
    // The default: the store publishes, the writer may not.
    const store = natsPermissions(app.toGraph(), { prefix: "p" });
    expect(allows(store.functions.writer!.permissions.publish, busNames("orders", { prefix: "p" }).subject)).toBe(
      false,
    );
    expect(store.store).toBeDefined();
  });

  test("natsPermissions: a graph without links gives a function only its inbox and the account info", () => {
    const app = new App("bare");
    app.function("solo", { handler: "./solo.ts", routes: ["GET /"] });
    const solo = natsPermissions(app.toGraph()).functions.solo!;
    expect(solo.permissions).toEqual({ publish: ["$JS.API.INFO"], subscribe: ["_INBOX_function-solo.>"] });
  });
});
