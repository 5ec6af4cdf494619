// Baseline: a hello world on raw @hono/node-server, the ceiling the emulator is measured against.
import { serve } from "@hono/node-server";
import { Hono } from "hono";

const app = new Hono();
app.get("/hello", (c) => c.text("hello"));
serve({ fetch: app.fetch, port: Number(process.argv[2]), hostname: "127.0.0.1" }, (info) => {
  console.log(JSON.stringify({ event: "ready", url: `http://127.0.0.1:${info.port}` }));
});
