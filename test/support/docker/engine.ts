/**
 * The Docker engine the end-to-end tests drive: its HTTP API over the Unix socket (no
 * client library, no CLI), whether one answers at all, and the teardown of everything a
 * test run created, found by the run's label.
 */
import { randomBytes } from "node:crypto";
import { request as httpRequest } from "node:http";

/** Every object a test creates on the engine carries this label, its value the run's id. */
export const runLabel = "nimbus.test.run";

/** The API version we speak: Debian 12's engine (20.10) answers it, and so does every newer one. */
const apiVersion = "v1.41";

/** A fresh run id: a test's objects are found (and removed) by it. */
export const newRunId = (): string => `t${Date.now().toString(36)}${randomBytes(3).toString("hex")}`;

/** An answer of the engine with a status of 400 or more, with the engine's own message. */
export class DockerApiError extends Error {
  readonly status: number;
  constructor(method: string, path: string, status: number, message: string) {
    super(`Docker engine: ${method} ${path} answered ${status}: ${message}`);
    this.name = "DockerApiError";
    this.status = status;
  }
}

export interface RequestOptions {
  query?: Record<string, string | number | boolean | readonly string[] | undefined>;
  /** Sent as JSON. */
  json?: unknown;
  /** Sent as is, with `contentType`. */
  body?: Buffer;
  contentType?: string;
  /** @default 60_000 */
  timeoutMs?: number;
}

function socketPath(): string {
  const host = process.env.DOCKER_HOST;
  if (host === undefined || host === "") return "/var/run/docker.sock";
  if (host.startsWith("unix://")) return host.slice("unix://".length);
  throw new Error(
    `DOCKER_HOST is ${host}; the test client speaks to a Unix socket only (unix:///var/run/docker.sock).`,
  );
}

function queryString(query: RequestOptions["query"]): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) params.append(key, item);
    else params.append(key, String(value));
  }
  const text = params.toString();
  return text ? `?${text}` : "";
}

/** A client of the engine's API over its Unix socket. */
export class DockerEngine {
  readonly socket: string;

  constructor(socket = socketPath()) {
    this.socket = socket;
  }

  /** One request; the body is read whole (the answers we ask for are small, build logs included). */
  request(method: string, path: string, opts: RequestOptions = {}): Promise<{ status: number; body: Buffer }> {
    const body = opts.json !== undefined ? Buffer.from(JSON.stringify(opts.json)) : opts.body;
    const contentType = opts.json !== undefined ? "application/json" : opts.contentType;
    const timeoutMs = opts.timeoutMs ?? 60_000;
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          socketPath: this.socket,
          method,
          path: `/${apiVersion}${path}${queryString(opts.query)}`,
          headers: {
            ...(contentType ? { "content-type": contentType } : {}),
            ...(body ? { "content-length": body.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
          res.on("error", reject);
        },
      );
      req.setTimeout(timeoutMs, () =>
        req.destroy(new Error(`Docker engine: ${method} ${path} got no answer within ${timeoutMs} ms`)),
      );
      req.on("error", reject);
      req.end(body);
    });
  }

  /** A request whose answer is JSON (or empty); a status of 400 or more throws the engine's message. */
  async call<T = unknown>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const { status, body } = await this.request(method, path, opts);
    const text = body.toString("utf8");
    if (status >= 400) {
      let message = text.trim();
      try {
        message = (JSON.parse(text) as { message?: string }).message ?? message;
      } catch {}
      throw new DockerApiError(method, path, status, message);
    }
    return (text.trim() === "" ? undefined : JSON.parse(text)) as T;
  }

  /** An image's inspection, or undefined when the engine has no image by that name or id. */
  async image(name: string): Promise<ImageInfo | undefined> {
    try {
      return await this.call<ImageInfo>("GET", `/images/${encodeURIComponent(name)}/json`);
    } catch (error) {
      if (error instanceof DockerApiError && error.status === 404) return undefined;
      throw error;
    }
  }

  /**
   * Runs a streaming operation (build, import) and reads its JSON lines: the engine
   * answers 200 and reports a failure inside the stream, so each line is checked.
   */
  async stream(method: string, path: string, opts: RequestOptions): Promise<StreamLine[]> {
    const { status, body } = await this.request(method, path, opts);
    const text = body.toString("utf8");
    if (status >= 400) throw new DockerApiError(method, path, status, text.trim());
    const lines = text
      .split(/\r?\n/)
      .filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line) as StreamLine);
    const failed = lines.find((line) => line.error !== undefined);
    if (failed) {
      const log = lines
        .map((line) => line.stream ?? "")
        .join("")
        .trim();
      throw new DockerApiError(method, path, status, `${failed.error}${log ? `\n${log}` : ""}`);
    }
    return lines;
  }
}

export interface ImageInfo {
  Id: string;
  RepoTags: string[] | null;
  RepoDigests: string[] | null;
  Created: string;
  Config: { Labels: Record<string, string> | null; User?: string };
}

export interface StreamLine {
  stream?: string;
  status?: string;
  error?: string;
  aux?: { ID?: string };
}

/**
 * Why the Docker tests cannot run here, or undefined when an engine answers. Under
 * CI=true a missing engine is a failure, not a skip: CI starts one.
 */
export async function dockerAvailable(engine?: DockerEngine): Promise<string | undefined> {
  let reason: string | undefined;
  try {
    const client = engine ?? new DockerEngine();
    const { status, body } = await client.request("GET", "/_ping", { timeoutMs: 3_000 });
    if (status !== 200) reason = `the Docker engine on ${client.socket} answered its ping with ${status}: ${body}`;
  } catch (error) {
    reason = `no Docker engine answers (${(error as Error).message}); start dockerd as root, as .ci/run does`;
  }
  if (reason !== undefined && process.env.CI === "true") throw new Error(`CI=true but ${reason}`);
  return reason;
}

/** The name of every container created for a run, kept for the teardown's `removeNetwork`. */
const containerNames = new Map<string, Set<string>>();

/** Notes a container created for a run: its name is the endpoint name it has on a network. */
export function noteContainer(runId: string, name: string): void {
  const names = containerNames.get(runId) ?? new Set<string>();
  containerNames.set(runId, names.add(name));
}

/**
 * Removes a network of the run. One can still have endpoints although its containers are
 * gone: a container a test was starting or restarting as the teardown listed them, the
 * engine releasing an endpoint after the container's removal returned, or an endpoint the
 * engine kept for good after its container went (seen in CI runs: the network lists no
 * container, yet "has active endpoints" until dockerd restarts). A listed container is
 * disconnected by id; an endpoint without a container can only be named, and its name is
 * the name of the container it was made for, so each name the run created is disconnected
 * too (force: the engine then deletes the endpoint by name). Then the removal is tried
 * again, for up to 5 s.
 */
async function removeNetwork(engine: DockerEngine, id: string, names: Iterable<string>): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      await engine.call("DELETE", `/networks/${id}`);
      return;
    } catch (error) {
      const busy = error instanceof DockerApiError && /active endpoints/.test(error.message);
      if (!busy || Date.now() > deadline) throw error;
    }
    const { Containers } = await engine.call<{ Containers: Record<string, unknown> | null }>("GET", `/networks/${id}`);
    for (const container of [...Object.keys(Containers ?? {}), ...names]) {
      await engine
        .call("POST", `/networks/${id}/disconnect`, { json: { Container: container, Force: true } })
        .catch(() => {});
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** What `cleanup` removed, by kind. */
export interface Removed {
  containers: string[];
  networks: string[];
  volumes: string[];
  images: string[];
}

/**
 * Removes every container, network, volume and image labelled with the run's id, in
 * that order (a network or volume in use cannot go first; an image built on another goes
 * before it). The engine mocks cannot see a delete, so this is the teardown of a test.
 */
export async function cleanup(runId: string, engine = new DockerEngine()): Promise<Removed> {
  const filters = JSON.stringify({ label: [`${runLabel}=${runId}`] });
  const removed: Removed = { containers: [], networks: [], volumes: [], images: [] };
  const containers = await engine.call<{ Id: string; Names: string[] }[]>("GET", "/containers/json", {
    query: { all: true, filters },
  });
  for (const container of containers) {
    await engine.call("DELETE", `/containers/${container.Id}`, { query: { force: true, v: true } });
    removed.containers.push(container.Names[0]?.replace(/^\//, "") ?? container.Id);
  }
  const networks = await engine.call<{ Id: string; Name: string }[]>("GET", "/networks", { query: { filters } });
  // A network the engine will not let go (an endpoint it kept after its container went)
  // fails the teardown, but only once the volumes and images are gone too.
  let stuck: unknown;
  for (const network of networks) {
    try {
      await removeNetwork(engine, network.Id, containerNames.get(runId) ?? []);
      removed.networks.push(network.Name);
    } catch (error) {
      stuck ??= error;
    }
  }
  const volumes = await engine.call<{ Volumes: { Name: string }[] | null }>("GET", "/volumes", { query: { filters } });
  for (const volume of volumes.Volumes ?? []) {
    await engine.call("DELETE", `/volumes/${encodeURIComponent(volume.Name)}`, { query: { force: true } });
    removed.volumes.push(volume.Name);
  }
  let images = await engine.call<{ Id: string; Created: number; RepoTags: string[] | null }[]>("GET", "/images/json", {
    query: { filters },
  });
  // An image with a child cannot go (409) until the child has; time stamps are too coarse
  // to order them, so each pass removes what it can.
  while (images.length > 0) {
    const blocked: typeof images = [];
    let lastConflict: unknown;
    for (const image of images) {
      try {
        await engine.call("DELETE", `/images/${image.Id}`, { query: { force: true } });
        removed.images.push(image.RepoTags?.[0] ?? image.Id);
      } catch (error) {
        // 404: removing a child of the run already took this one as its untagged parent.
        if (error instanceof DockerApiError && error.status === 404) continue;
        if (!(error instanceof DockerApiError && error.status === 409)) throw error;
        blocked.push(image);
        lastConflict = error;
      }
    }
    if (blocked.length === images.length) throw lastConflict;
    images = blocked;
  }
  if (stuck) throw stuck;
  containerNames.delete(runId);
  return removed;
}
