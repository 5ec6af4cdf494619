// The benchmark app: a hello-world function plus nine more, so memory is measured with ten loaded.
import { App } from "@nimbus/core";

const app = new App("bench");

export const hello = app.function("hello", { handler: "./src/hello.ts", routes: ["GET /hello"], concurrency: 1000 });
for (let i = 1; i < 10; i++) app.function(`fn-${i}`, { handler: "./src/other.ts", routes: [`GET /fn-${i}`] });

export default app;
