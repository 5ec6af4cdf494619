import { defineHandler } from "@nimbus/runtime";
import type { web } from "../nimbus.app";

export default defineHandler<typeof web>({
  async fetch(_request, _env, ctx) {
    return Response.json({ message: `hello ${ctx.params.name}` });
  },
});
