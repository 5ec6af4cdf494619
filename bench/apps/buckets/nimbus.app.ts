// The bucket benchmark's app: one function linking one bucket, timing the loops inside its handler.
import { App } from "@nimbus/core";

const app = new App("bench-buckets");

export const objects = app.bucket("objects");

export const loops = app.function("loops", {
  handler: "./src/handler.ts",
  routes: ["POST /run", "POST /large"],
  link: { objects },
  // A full pass streams 256 MiB each way, three times over.
  timeout: "15m",
});

export default app;
