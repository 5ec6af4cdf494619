// Baseline: Miniflare 4 serving a hello-world Worker, started as its own process.
import { Miniflare } from "miniflare";

const mf = new Miniflare({
  modules: true,
  script: 'export default { fetch() { return new Response("hello"); } }',
  port: Number(process.argv[2]),
  host: "127.0.0.1",
});
const url = await mf.ready;
console.log(JSON.stringify({ event: "ready", url: String(url) }));
process.on("SIGTERM", () => void mf.dispose().then(() => process.exit(0)));
