/**
 * Builds the Docker tests' local images (idempotent; nothing is pulled).
 *
 * Usage: node --conditions=nimbus-source test/support/docker/build-images.ts
 */
import { dockerAvailable } from "./engine.ts";
import { buildTestImages } from "./images.ts";

const reason = await dockerAvailable();
if (reason !== undefined) {
  console.error(`test images: not built: ${reason}`);
  process.exit(1);
}
const report = await buildTestImages();
const parts = [
  report.built.length > 0 ? `built ${report.built.join(", ")}` : "",
  report.unchanged.length > 0 ? `unchanged ${report.unchanged.join(", ")}` : "",
].filter((part) => part !== "");
console.log(`test images: ${parts.join("; ")} (${(report.ms / 1000).toFixed(1)} s)`);
