// What the handlers of test/fixtures/queues recorded in its `results` bucket, read through
// a deployment: the queue sections' only window on deliveries.
import type { DeployedApp } from "./conformance.ts";

/** What `worker` recorded for one delivery. */
export interface Delivery {
  queue: string;
  messageId: string;
  batch: string[];
  timestamp: string;
  pid: number;
  /** When the handler got the batch, in ms (its host's clock). */
  at: number;
}

/** What `echo` recorded for one delivery from `raw`. */
export interface Echo {
  queue: string;
  id: string;
  attempts: number;
  timestamp: string;
  type: string;
  body: unknown;
}

/** Every key under `prefix`, across pages. */
export async function keys(app: DeployedApp, prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await app.bucket("results").list({ prefix, cursor });
    found.push(...page.objects.map((o) => o.key));
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return found;
}

/** The folder `worker` records a queue's deliveries in. */
const folder = (queue: string) => (queue === "jobs" ? "deliveries" : queue);

/** The attempts with which `worker` got message `id` from `queue`, in order. */
export async function deliveries(app: DeployedApp, id: string, queue = "jobs"): Promise<number[]> {
  return (await keys(app, `${folder(queue)}/${id}/`)).map((key) => Number(key.split("/").pop())).sort((a, b) => a - b);
}

/** What `worker` recorded for delivery `attempt` of message `id` from `queue`. */
export async function delivery(app: DeployedApp, id: string, attempt: number, queue = "jobs"): Promise<Delivery> {
  const object = await app.bucket("results").get(`${folder(queue)}/${id}/${attempt}`);
  if (!object) throw new Error(`no delivery ${attempt} of ${id} from ${queue}`);
  return object.json<Delivery>();
}

/** The batches `collector` got from `batched`, as lists of ids. */
export async function batches(app: DeployedApp): Promise<string[][]> {
  return (await keys(app, "batches/")).map((key) => key.slice("batches/".length).split(","));
}

/** What `echo` recorded for every delivery from `raw`. */
export async function echoed(app: DeployedApp): Promise<Echo[]> {
  const results = app.bucket("results");
  return Promise.all((await keys(app, "raw/")).map(async (key) => (await results.get(key))!.json<Echo>()));
}

/** The keys `gated` recorded for message `id`: `gated/<id>/<attempt>`. */
export const gatedKeys = (app: DeployedApp, id: string): Promise<string[]> => keys(app, `gated/${id}/`);

/** When `gated` got delivery `attempt` of message `id`, in ms (its host's clock). */
export async function gatedAt(app: DeployedApp, id: string, attempt: number): Promise<number> {
  const object = await app.bucket("results").get(`gated/${id}/${attempt}`);
  if (!object) throw new Error(`no delivery ${attempt} of ${id} recorded by gated`);
  return (await object.json<{ at: number }>()).at;
}

/** Lets `gated` ack message `id` (it holds each message until then). */
export async function open(app: DeployedApp, id: string): Promise<void> {
  const response = await app.fetch(`/open?id=${encodeURIComponent(id)}`, { method: "POST" });
  if (response.status !== 200) throw new Error(`POST /open answered ${response.status}`);
}

/** What `rt-timed` recorded for one delivery, with the moment it got the batch. */
export interface Timed {
  queue: string;
  messageId: string;
  batch: string[];
  attempts: number;
  timestamp: string;
  /** When the handler got the batch, in ms (its host's clock). */
  at: number;
}

/** What `rt-timed` recorded for message `id`, by attempt (1 first); empty if nothing yet. */
export async function timed(app: DeployedApp, id: string): Promise<Timed[]> {
  const results = app.bucket("results");
  const found = await Promise.all(
    (await keys(app, `timed/${id}/`)).map(async (key) => (await results.get(key))!.json<Timed>()),
  );
  return found.sort((a, b) => a.attempts - b.attempts);
}

/** The batches `rt-timed` got, each once, in the order it got them. */
export async function timedBatches(app: DeployedApp): Promise<Timed[]> {
  const results = app.bucket("results");
  const all = await Promise.all(
    (await keys(app, "timed/")).map(async (key) => (await results.get(key))!.json<Timed>()),
  );
  const seen = new Set<string>();
  return all
    .sort((a, b) => a.at - b.at)
    .filter((record) => {
      const batch = `${record.at}:${record.batch.join(",")}`;
      if (seen.has(batch)) return false;
      seen.add(batch);
      return true;
    });
}

/** When `rtf-worker` began delivery `attempt` of message `id` from `queue`, in ms. */
export async function deliveredAt(app: DeployedApp, id: string, attempt: number, queue: string): Promise<number> {
  const object = await app.bucket("results").get(`${queue}/${id}/${attempt}`);
  if (!object) throw new Error(`no delivery ${attempt} of ${id} from ${queue}`);
  return (await object.json<{ at: number }>()).at;
}
