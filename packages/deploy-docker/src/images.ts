import { createHash } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import * as docker from "@pulumi/docker";
import type * as pulumi from "@pulumi/pulumi";

/** A build context: its files by path (with `/`), and a hash of all of them. */
export interface ContextFiles {
  files: Map<string, Uint8Array>;
  /** sha256 of every path and its bytes, hex: the same files give the same hash, so the same image tag. */
  hash: string;
}

/** Where the deployed host expects a function's bundle. */
export const bundlePath = (fn: string): string => `/nimbus/app/${fn}.mjs`;
/** The host's entry inside the base image. */
export const hostEntry = "/nimbus/host/main.js";

const text = (value: string): Uint8Array => new TextEncoder().encode(value);

function hashFiles(files: Map<string, Uint8Array>): string {
  const hash = createHash("sha256");
  for (const path of [...files.keys()].sort()) {
    const bytes = files.get(path)!;
    hash.update(`${path}\0${bytes.length}\0`);
    hash.update(bytes);
  }
  return hash.digest("hex");
}

/**
 * The base image's context: Node (`baseImage`) and the runtime host's files under
 * `/nimbus/host`, run as the image's non-root `node` user. Shared by every function and
 * the control role, so a deploy that changes only handlers never rebuilds it.
 */
export function hostImageContext(baseImage: string, hostFiles: Map<string, Uint8Array>): ContextFiles {
  const files = new Map<string, Uint8Array>();
  for (const [path, bytes] of hostFiles) files.set(`host/${path}`, bytes);
  // /nimbus/data is where the store's volume mounts: a new volume takes the ownership of
  // the image's folder, so the non-root user can write to it.
  files.set(
    "Dockerfile",
    text(
      `FROM ${baseImage}\nRUN mkdir -p /nimbus/data && chown node:node /nimbus/data\nCOPY host/ /nimbus/host/\nUSER node\n`,
    ),
  );
  return { files, hash: hashFiles(files) };
}

/**
 * A function's thin image: the base image (by its content-hashed tag) and the bundle,
 * nothing else. Its hash covers both, so the same bundle on the same base gives the same
 * tag, and Pulumi sees no change and restarts nothing.
 */
export function functionImageContext(fn: string, baseRef: string, bundle: Uint8Array): ContextFiles {
  const file = `${fn}.mjs`;
  const files = new Map<string, Uint8Array>([
    [file, bundle],
    ["Dockerfile", text(`FROM ${baseRef}\nCOPY ${file} ${bundlePath(fn)}\n`)],
  ]);
  return { files, hash: hashFiles(files) };
}

/** Where the app's graph is in the graph image. */
export const graphPath = "/nimbus/app/graph.json";

/**
 * The graph image: the base image and the app's whole graph, for the containers that
 * read all of it (the control role, the provision run, the store). A file in the image
 * rather than a variable (one variable holds at most 128 KiB on Linux) or an upload (a
 * read-only root file system takes none); it changes only when the graph does.
 */
export function graphImageContext(baseRef: string, graphJson: string): ContextFiles {
  const files = new Map<string, Uint8Array>([
    ["graph.json", text(graphJson)],
    ["Dockerfile", text(`FROM ${baseRef}\nCOPY graph.json ${graphPath}\n`)],
  ]);
  return { files, hash: hashFiles(files) };
}

/** `repo:<first 16 hex digits of the hash>`. */
export const imageTag = (repository: string, context: ContextFiles): string =>
  `${repository}:${context.hash.slice(0, 16)}`;

/** Every file under `dir`, by path relative to it with `/`. */
export function readTree(dir: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const walk = (path: string) => {
    for (const entry of readdirSync(path, { withFileTypes: true })) {
      const full = join(path, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) files.set(relative(dir, full).split(sep).join("/"), readFileSync(full));
    }
  };
  walk(dir);
  return files;
}

/**
 * Writes a context to `dir`, which then holds exactly its files. A file whose bytes
 * are already there is left alone, so its time stamps do not change either.
 */
export function writeContext(dir: string, context: ContextFiles): void {
  const existing = (() => {
    try {
      return readTree(dir);
    } catch {
      return new Map<string, Uint8Array>();
    }
  })();
  for (const path of existing.keys()) {
    if (!context.files.has(path)) rmSync(join(dir, path));
  }
  for (const [path, bytes] of context.files) {
    const old = existing.get(path);
    if (old && Buffer.from(old).equals(bytes)) continue;
    const full = join(dir, path);
    mkdirSync(join(full, ".."), { recursive: true });
    writeFileSync(full, bytes);
  }
}

/** A local build of `context` in `dir`, tagged with its hash and never pushed (a Docker host may have no registry). */
export function localImage(
  name: string,
  repository: string,
  dir: string,
  context: ContextFiles,
  opts: pulumi.CustomResourceOptions,
): docker.Image {
  writeContext(dir, context);
  return new docker.Image(
    name,
    {
      imageName: imageTag(repository, context),
      build: { context: dir, dockerfile: join(dir, "Dockerfile") },
      skipPush: true,
    },
    opts,
  );
}
