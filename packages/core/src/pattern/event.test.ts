import { describe, expect, it } from "vitest";
import { NimbusError } from "../errors/nimbus-error.ts";
import { toEvent } from "./event.ts";

describe("toEvent", () => {
  it("toEvent: wraps an entry in the EventBridge envelope with local defaults", () => {
    const event = toEvent(
      { source: "orders", detailType: "OrderPaid", detail: { total: 5 } },
      { now: new Date("2026-01-01T00:00:00.789Z") },
    );
    expect(event).toEqual({
      version: "0",
      id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      "detail-type": "OrderPaid",
      source: "orders",
      account: "000000000000",
      time: "2026-01-01T00:00:00Z",
      region: "local",
      resources: [],
      detail: { total: 5 },
    });
  });

  it("toEvent: uses the given id, account, region, resources and time", () => {
    const event = toEvent(
      { source: "s", detailType: "d", detail: null, resources: ["arn:x"], time: "2025-06-30T12:34:56.999+02:00" },
      { id: "evt-1", account: "123456789012", region: "eu-west-1", now: new Date(0) },
    );
    expect(event).toMatchObject({
      id: "evt-1",
      account: "123456789012",
      region: "eu-west-1",
      resources: ["arn:x"],
      time: "2025-06-30T10:34:56Z",
    });
  });

  it("toEvent: gives each event a fresh id", () => {
    const entry = { source: "s", detailType: "d", detail: {} };
    expect(toEvent(entry).id).not.toBe(toEvent(entry).id);
  });

  it("toEvent: rejects an invalid time", () => {
    let caught: unknown;
    try {
      toEvent({ source: "s", detailType: "d", detail: {}, time: "yesterday" });
    } catch (error) {
      caught = error;
    }
    expect(NimbusError.is(caught) && caught.code).toBe("NIMBUS_EVENT_TIME_INVALID");
  });
});
