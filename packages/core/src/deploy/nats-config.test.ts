import { describe, expect, test } from "vitest";
import { App } from "../app/app.ts";
import { NimbusError } from "../errors/nimbus-error.ts";
import { natsString, renderNatsConfig } from "./nats-config.ts";
import { natsPermissions } from "./nats-permissions.ts";

function users() {
  const app = new App("shop");
  const jobs = app.queue("jobs");
  app.function("a", { handler: "./a.ts", link: { jobs } });
  return natsPermissions(app.toGraph());
}

const passwords = { "function-a": "pa", "nimbus-control": "pc", "nimbus-admin": "pd" };

describe("renderNatsConfig", () => {
  test("renderNatsConfig: one account with JetStream, every user with its password and allow lists, on 127.0.0.1", () => {
    const text = renderNatsConfig(users(), { app: "shop", passwords, storeDir: "/data/js" });
    expect(text).toContain('listen: "127.0.0.1:4222"');
    expect(text).toContain('store_dir: "/data/js"');
    expect(text).toContain("jetstream: enabled");
    expect(text).toMatch(/user: "function-a"\n\s+password: "pa"/);
    expect(text).toContain('"nimbus.q.queue-jobs.ready.new"');
    expect(text).toContain('subscribe: { allow: [\n            "_INBOX_function-a.>"');
    expect(text).not.toMatch(/no_auth_user|"\s*>\s*"/);
  });

  test("renderNatsConfig: the control user of an app with schedules subscribes to the trigger subject and may answer requests", () => {
    const app = new App("shop");
    const jobs = app.queue("jobs");
    app.schedule("nightly", { cron: "0 3 * * *", target: jobs });
    const text = renderNatsConfig(natsPermissions(app.toGraph()), { app: "shop", passwords, storeDir: "/d" });
    const control = text.slice(text.indexOf('user: "nimbus-control"'), text.indexOf('user: "nimbus-admin"'));
    expect(control).toContain('"nimbus.s.schedule-ticks.trigger"');
    expect(control).toMatch(/subscribe: \{ allow: \[[^\]]*\] \}\n\s+allow_responses: true\n/);
    expect(text.match(/allow_responses/g)).toHaveLength(1);
  });

  test("renderNatsConfig: refuses a user without a password", () => {
    const error = (() => {
      try {
        renderNatsConfig(users(), { app: "shop", passwords: { "function-a": "pa" }, storeDir: "/d" });
      } catch (caught) {
        return caught;
      }
    })();
    expect(NimbusError.is(error) && error.code).toBe("NIMBUS_DEPLOY_NATS_CONFIG");
    expect((error as Error).message).toContain('"nimbus-control"');
  });

  test("natsString: escapes quotes and backslashes, and refuses line breaks", () => {
    expect(natsString('a"b\\c$d')).toBe('"a\\"b\\\\c$d"');
    expect(() => natsString("a\nlisten: 0.0.0.0:1")).toThrow(/control character/);
  });
});
