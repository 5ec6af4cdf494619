/**
 * The images the Docker tests run, built here from files this machine already has: no
 * registry, nothing pulled. Each is one layer imported from a tar (no builder, about a
 * second): Node 24 from the npm package `node-linux-<arch>`, NATS and Caddy from Debian's
 * binaries, each with the shared libraries `ldd` lists and a static BusyBox for the shell
 * and `wget` their Dockerfiles and health checks use. Rebuilt only when their content
 * changes (its hash is a label of the image).
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import type { DockerStackConfig } from "@nimbus/deploy-docker";
import { DockerEngine } from "./engine.ts";
import { type TarEntry, tarArchive } from "./tar.ts";

/** The stack config's image settings that point the Docker target at the test images. */
export const testImages = {
  base: "nimbus-test/node:24",
  nats: "nimbus-test/nats:2.9",
  gateway: "nimbus-test/caddy:2.6",
} as const satisfies DockerStackConfig["images"];

/** Labels of a test image: which one it is, and the hash of its content. */
export const imageLabel = "nimbus.test.image";
export const contentLabel = "nimbus.test.content";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const nodeMajor = 24;
const path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/** The BusyBox applets the images get: a shell and what Dockerfiles' RUN lines and health checks call. */
const applets = [
  "sh",
  "cat",
  "chmod",
  "chown",
  "cp",
  "echo",
  "env",
  "grep",
  "head",
  "id",
  "ln",
  "ls",
  "mkdir",
  "mv",
  "ps",
  "rm",
  "sleep",
  "tail",
  "test",
  "touch",
  "true",
  "false",
  "wget",
];

/** The host binaries an image needs, found or explained. */
function hostFile(candidates: readonly string[], what: string, install: string): string {
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found)
    throw new Error(`No ${what} on this machine (looked at ${candidates.join(", ")}); install it: ${install}`);
  return found;
}

/** The shared libraries `ldd` lists for `binary` (the loader included), by the path the binary asks for. */
function sharedLibraries(binary: string): string[] {
  let output: string;
  try {
    output = execFileSync("ldd", [binary], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  } catch (error) {
    // A static binary: ldd says so and exits 1.
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    if (`${stdout ?? ""}${stderr ?? ""}`.includes("not a dynamic executable")) return [];
    throw error;
  }
  const libraries: string[] = [];
  for (const line of output.split("\n")) {
    const match = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (match) libraries.push(match[1]!);
  }
  return libraries;
}

/**
 * Node 24's binary from the npm package `node-linux-<arch>`: the copy `./pnpm` keeps in
 * .toolchain when it is 24, otherwise one packed into node_modules/.cache once.
 */
function nodeBinary(): string {
  const toolchain = join(root, ".toolchain/node/bin/node");
  if (existsSync(toolchain)) {
    const version = execFileSync(toolchain, ["--version"], { encoding: "utf8" }).trim();
    if (version.startsWith(`v${nodeMajor}.`)) return toolchain;
  }
  const cached = join(root, "node_modules/.cache/nimbus-test-images/node/bin/node");
  if (existsSync(cached)) return cached;
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  const work = mkdtempSync(join(tmpdir(), "nimbus-node-pack-"));
  try {
    execFileSync("npm", ["pack", "--silent", `node-linux-${arch}@${nodeMajor}`], { cwd: work, stdio: "ignore" });
    const dir = join(root, "node_modules/.cache/nimbus-test-images/node");
    mkdirSync(dir, { recursive: true });
    execFileSync("sh", ["-c", `tar -xzf "${work}"/node-*.tgz -C "${dir}" --strip-components=1 package/bin/node`]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return cached;
}

/** A root file system being put together: entries by path, parents added as folders. */
class RootFs {
  readonly entries = new Map<string, TarEntry>();

  dir(path: string, mode = 0o755, owner = 0): void {
    const rel = path.replace(/^\/+/, "").replace(/\/+$/, "");
    if (rel === "") return;
    this.dir(posix.dirname(`/${rel}`));
    if (!this.entries.has(rel)) this.entries.set(rel, { path: rel, type: "dir", mode, uid: owner, gid: owner });
  }

  file(path: string, content: Uint8Array, mode = 0o644): void {
    const rel = path.replace(/^\/+/, "");
    this.dir(posix.dirname(`/${rel}`));
    this.entries.set(rel, { path: rel, type: "file", mode, content });
  }

  symlink(path: string, target: string): void {
    const rel = path.replace(/^\/+/, "");
    this.dir(posix.dirname(`/${rel}`));
    this.entries.set(rel, { path: rel, type: "symlink", mode: 0o777, target });
  }

  /** A host binary at `target`, with its shared libraries at the paths it asks for. */
  binary(source: string, target: string): void {
    this.file(target, readFileSync(source), 0o755);
    for (const library of sharedLibraries(source)) this.file(library, readFileSync(library), 0o755);
  }

  /** What every test image has: users, /tmp, name resolution, CA certificates, BusyBox. */
  base(users: readonly { name: string; id: number; home: string }[]): void {
    for (const dir of ["/bin", "/etc", "/root", "/usr/local/bin"]) this.dir(dir);
    this.dir("/tmp", 0o1777);
    const passwd = [
      "root:x:0:0:root:/root:/bin/sh",
      ...users.map((user) => `${user.name}:x:${user.id}:${user.id}:${user.name}:${user.home}:/bin/sh`),
    ];
    const group = ["root:x:0:", ...users.map((user) => `${user.name}:x:${user.id}:`)];
    this.file("/etc/passwd", Buffer.from(`${passwd.join("\n")}\n`));
    this.file("/etc/group", Buffer.from(`${group.join("\n")}\n`));
    this.file("/etc/nsswitch.conf", Buffer.from("passwd: files\ngroup: files\nhosts: files dns\n"));
    for (const user of users) this.dir(user.home, 0o755, user.id);
    const certificates = "/etc/ssl/certs/ca-certificates.crt";
    if (existsSync(certificates)) this.file(certificates, readFileSync(certificates));
    const busybox = hostFile(["/bin/busybox", "/usr/bin/busybox"], "static BusyBox", "apt-get install busybox-static");
    if (sharedLibraries(busybox).length > 0) {
      throw new Error(
        `${busybox} is not static; the test images need Debian's busybox-static (apt-get install busybox-static).`,
      );
    }
    this.file("/bin/busybox", readFileSync(busybox), 0o755);
    for (const applet of applets) this.symlink(`/bin/${applet}`, "busybox");
  }

  /** sha256 of every entry: the same files give the same hash, so an unchanged image is not rebuilt. */
  hash(changes: readonly string[]): string {
    const hash = createHash("sha256");
    for (const change of changes) hash.update(`${change}\0`);
    for (const entry of [...this.entries.values()].sort((a, b) => (a.path < b.path ? -1 : 1))) {
      hash.update(`${entry.path}\0${entry.type}\0${entry.mode}\0${entry.uid ?? 0}\0${entry.target ?? ""}\0`);
      if (entry.content) hash.update(entry.content);
    }
    return hash.digest("hex");
  }
}

interface ImageRecipe {
  tag: string;
  rootfs: () => RootFs;
  /** Dockerfile instructions of the image's config (ENV, CMD, WORKDIR, EXPOSE). */
  changes: string[];
}

const recipes: ImageRecipe[] = [
  {
    // As the official node image: a `node` user (uid 1000) the Docker target's Dockerfile
    // switches to, root by default so that Dockerfile's RUN lines can chown.
    tag: testImages.base,
    rootfs: () => {
      const fs = new RootFs();
      fs.base([{ name: "node", id: 1000, home: "/home/node" }]);
      fs.binary(nodeBinary(), "/usr/local/bin/node");
      return fs;
    },
    changes: [`ENV PATH=${path}`, "WORKDIR /", 'CMD ["node"]'],
  },
  {
    tag: testImages.nats,
    rootfs: () => {
      const fs = new RootFs();
      fs.base([]);
      const nats = hostFile(
        ["/usr/sbin/nats-server", "/usr/bin/nats-server"],
        "nats-server",
        "apt-get install nats-server",
      );
      fs.binary(nats, "/usr/local/bin/nats-server");
      fs.dir("/data");
      fs.dir("/etc/nats");
      return fs;
    },
    changes: [`ENV PATH=${path}`, "EXPOSE 4222 8222", 'CMD ["nats-server", "--jetstream", "--store_dir", "/data"]'],
  },
  {
    // As the official caddy image: its state and config under /data and /config.
    tag: testImages.gateway,
    rootfs: () => {
      const fs = new RootFs();
      fs.base([]);
      fs.binary(hostFile(["/usr/bin/caddy"], "caddy", "apt-get install caddy"), "/usr/bin/caddy");
      for (const dir of ["/data", "/config", "/etc/caddy", "/srv"]) fs.dir(dir);
      return fs;
    },
    changes: [
      `ENV PATH=${path}`,
      "ENV XDG_CONFIG_HOME=/config",
      "ENV XDG_DATA_HOME=/data",
      "EXPOSE 80",
      "WORKDIR /srv",
      'CMD ["caddy", "run", "--config", "/etc/caddy/Caddyfile", "--adapter", "caddyfile"]',
    ],
  },
];

export interface BuildReport {
  /** Tags built now. */
  built: string[];
  /** Tags whose image was already there with the same content. */
  unchanged: string[];
  ms: number;
}

/**
 * Builds the test images that are missing or whose content changed, by importing each
 * root file system as one layer. Idempotent; a second call with nothing changed only
 * hashes the files.
 */
export async function buildTestImages(engine = new DockerEngine()): Promise<BuildReport> {
  const started = performance.now();
  const report: BuildReport = { built: [], unchanged: [], ms: 0 };
  for (const recipe of recipes) {
    const fs = recipe.rootfs();
    const hash = fs.hash(recipe.changes);
    const existing = await engine.image(recipe.tag);
    if (existing?.Config.Labels?.[contentLabel] === hash) {
      report.unchanged.push(recipe.tag);
      continue;
    }
    const [repo, tag] = recipe.tag.split(":") as [string, string];
    const changes = [...recipe.changes, `LABEL ${imageLabel}=${repo} ${contentLabel}=${hash}`];
    await engine.stream("POST", "/images/create", {
      query: { fromSrc: "-", repo, tag, changes },
      body: tarArchive([...fs.entries.values()]),
      contentType: "application/x-tar",
      timeoutMs: 120_000,
    });
    const image = await engine.image(recipe.tag);
    if (image?.Config.Labels?.[contentLabel] !== hash) {
      throw new Error(`The engine imported ${recipe.tag} but its ${contentLabel} label is not ${hash}.`);
    }
    report.built.push(recipe.tag);
  }
  report.ms = Math.round(performance.now() - started);
  return report;
}
