import { App } from "@nimbus/core";

const app = new App("blank");

/** Says hello: `GET /hello/ada` answers `{ "message": "hello ada" }`. */
export const web = app.function("web", {
  handler: "./src/web.ts",
  routes: ["GET /hello/:name"],
});

export default app;
