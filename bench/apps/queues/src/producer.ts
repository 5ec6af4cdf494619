import { defineHandler } from "@nimbus/runtime";
import type { producer } from "../nimbus.app";
import { runSends, type SendRun } from "./loops.ts";

// Wall time below a millisecond, comparable across the emulator's worker threads.
const now = () => performance.timeOrigin + performance.now();

/** `POST /run` sends the messages from here, through the binding, and answers when the sends began and how long they took. */
export default defineHandler<typeof producer>({
  async fetch(request, env) {
    return Response.json(await runSends(env.bench, (await request.json()) as SendRun, now));
  },
});
