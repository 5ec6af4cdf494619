import { describe, expect, it } from "vitest";
import { hostCheck } from "./host-check.ts";

describe("hostCheck", () => {
  it("host: serves loopback names and any IP address, with or without a port", () => {
    const check = hostCheck("127.0.0.1", []);
    for (const host of [
      "localhost",
      "localhost:8787",
      "app.localhost:1",
      "LOCALHOST.",
      "127.0.0.1:8787",
      "[::1]:8787",
      "192.168.1.5",
    ]) {
      expect(check(host), host).toBeUndefined();
    }
  });

  it("host: refuses any other name, naming it and the option that allows it", () => {
    const check = hostCheck("127.0.0.1", []);
    expect(check("evil.example:8787")).toMatch(
      /^Blocked a request for host "evil\.example".*--allowed-hosts evil\.example.*allowedHosts: \["evil\.example"\]/,
    );
    expect(check("localhost.evil.example")).toBeDefined();
    expect(check("127.0.0.1.nip.io")).toBeDefined();
    // Not a Host header at all.
    expect(check("localhost/path")).toBeDefined();
    expect(check("user@localhost")).toBeDefined();
  });

  it("host: serves the bound name and the allowed ones; a leading dot takes the name and every name under it", () => {
    const check = hostCheck("devbox.lan", ["app.test", ".dev.example"]);
    expect(check("devbox.lan:8787")).toBeUndefined();
    expect(check("APP.test")).toBeUndefined();
    expect(check("dev.example")).toBeUndefined();
    expect(check("a.b.dev.example:1")).toBeUndefined();
    expect(check("sub.app.test")).toBeDefined();
    expect(check("notdev.example")).toBeDefined();
  });

  it("host: allowedHosts true serves every name", () => {
    expect(hostCheck("127.0.0.1", true)("evil.example")).toBeUndefined();
  });
});
