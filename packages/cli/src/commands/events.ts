import { readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { busDefaults, NimbusError } from "@nimbus/core";
import type { Output } from "../output.ts";
import { control } from "./control.ts";

/** Most entries in one put, as EventBridge's PutEvents and the bus binding. */
const maxEntries = busDefaults.maxEntries;

const entryExample = '{ "source": "shop.api", "detailType": "OrderPaid", "detail": { "id": "o-1" } }';

/** `nimbus emit [dir] <bus> <json|@file>`: puts one entry, or a list of them, on a bus. */
export async function emitCommand(
  args: { dir: string; bus: string; entries: string; url?: string },
  output: Output,
): Promise<void> {
  const entries = await readEntries(args.entries);
  const { ids } = (await control(args.dir, args.url, `/_nimbus/buses/${encodeURIComponent(args.bus)}/events`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ entries }),
  })) as { ids: string[] };
  for (const id of ids) output.out(`put ${id} on ${args.bus}`);
}

/** `nimbus trigger [dir] <schedule>`: fires a schedule now, as if its time had come. */
export async function triggerCommand(
  args: { dir: string; schedule: string; url?: string },
  output: Output,
): Promise<void> {
  const { scheduledTime } = (await control(
    args.dir,
    args.url,
    `/_nimbus/schedules/${encodeURIComponent(args.schedule)}/trigger`,
    { method: "POST" },
  )) as { scheduledTime: number };
  output.out(`triggered ${args.schedule} (scheduledTime ${new Date(scheduledTime).toISOString()})`);
}

/**
 * The entries of `nimbus emit`, from JSON or `@file.json`: an entry or a list of 1 to 10. Each
 * entry's fields are the bus's to check, as for a put from a function; this catches only what
 * the CLI can say better: the wrong count, and an event written where an entry belongs.
 */
async function readEntries(argument: string): Promise<unknown[]> {
  const file = argument.startsWith("@") ? argument.slice(1) : undefined;
  let source = argument;
  if (file !== undefined) {
    try {
      source = await readFile(file, "utf8");
    } catch (error) {
      throw new NimbusError(
        "NIMBUS_CLI_ENTRIES_FILE",
        (error as NodeJS.ErrnoException).code === "ENOENT"
          ? `No entries file at ${resolve(file)}. After @, give the path of a JSON file holding the entries.`
          : `Could not read the entries file ${resolve(file)}: ${(error as Error).message}`,
      );
    }
  }
  const from = file ?? "The entries";
  let value: unknown;
  try {
    value = JSON.parse(source);
  } catch (error) {
    throw new NimbusError(
      "NIMBUS_CLI_ARGS",
      file === undefined
        ? `The entries must be JSON, or @file.json for a file (quote the JSON for your shell, e.g. '${entryExample}'): ${(error as Error).message}`
        : `${from} is not valid JSON: ${(error as Error).message}`,
    );
  }
  const entries = Array.isArray(value) ? value : [value];
  if (entries.length === 0 || entries.length > maxEntries) {
    throw new NimbusError(
      "NIMBUS_CLI_ARGS",
      `${from} must be one entry or a list of 1 to ${maxEntries} (as EventBridge's PutEvents); found ${entries.length}.${entries.length > maxEntries ? " Split them over several emits." : ""}`,
    );
  }
  entries.forEach((entry, index) => {
    const which = Array.isArray(value)
      ? `Entry ${index + 1} of ${entries.length}${file === undefined ? "" : ` in ${file}`}`
      : (file ?? "The entry");
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      const found = entry === null ? "null" : Array.isArray(entry) ? "an array" : `a ${typeof entry}`;
      throw new NimbusError("NIMBUS_CLI_ARGS", `${which} is ${found}; an entry is an object such as ${entryExample}.`);
    }
    if ("detail-type" in entry && !("detailType" in entry)) {
      throw new NimbusError(
        "NIMBUS_CLI_ARGS",
        `${which} is an event (it has "detail-type"), not a put entry; the bus makes the event. Write it as ${entryExample}.`,
      );
    }
  });
  return entries;
}
