import { defineHandler } from "@nimbus/runtime";
import type { bench, sink } from "../nimbus.app";
import { Sink } from "./loops.ts";

// Wall time below a millisecond, comparable across the emulator's worker threads.
const now = () => performance.timeOrigin + performance.now();
const state = new Sink();

/** Acks every message and records its latency; `GET /stats` answers what it saw, `POST /reset` forgets it. */
export default defineHandler<typeof sink, typeof bench>({
  queue(batch) {
    state.record(batch.messages, now(), now);
  },
  fetch(request) {
    if (request.method === "POST") {
      state.reset();
      return new Response(null, { status: 204 });
    }
    return Response.json(state.stats());
  },
});
