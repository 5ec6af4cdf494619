import { defineHandler } from "@nimbus/runtime";

// The nine functions that only make the app ten functions large.
export default defineHandler({
  fetch(request) {
    return new Response(`hello from ${new URL(request.url).pathname}`);
  },
});
