/**
 * Starts the bundled host (`process.argv[2]`) with NIMBUS_GRAPH read from the file named by
 * NIMBUS_BENCH_GRAPH_FILE. A graph with 1,000 rules is larger than Linux lets one
 * environment variable be (128 KiB, MAX_ARG_STRLEN: spawn fails with E2BIG), so the bench
 * hands it over this way; the host reads its environment as it always does.
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";

process.env.NIMBUS_GRAPH = readFileSync(process.env.NIMBUS_BENCH_GRAPH_FILE!, "utf8");
delete process.env.NIMBUS_BENCH_GRAPH_FILE;
await import(pathToFileURL(process.argv[2]!).href);
