import { defineHandler } from "@nimbus/runtime";
import type { hello } from "../nimbus.app";

const marker = "v0";

export default defineHandler<typeof hello>({
  fetch() {
    return new Response(`hello ${marker}`);
  },
});
