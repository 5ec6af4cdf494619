/**
 * Pulumi mocks that apply the program to the real Docker engine: each `docker:*` resource
 * the program registers is created on the engine, following @pulumi/docker 5.x's input
 * semantics, and answers with the engine's real ids and outputs, so a program (DockerApp
 * included) runs unchanged without a Pulumi engine. Every object created carries
 * `nimbus.test.run=<run id>`; `cleanup(runId)` (engine.ts) removes them after the test.
 *
 * Applied: Network, Volume, Image (a local build, never pushed), RemoteImage (must be on
 * the engine already), Container. Any other resource type, any call (invoke) and any
 * input the mocks do not apply throws, naming it, rather than being dropped.
 *
 * Where this differs from the real provider:
 * - Create, or keep. The mocks see no update, refresh or delete. A program run again under
 *   the same run id (a redeploy) keeps what it finds unchanged, as Pulumi's diff would: a
 *   network or volume of the run by the same name, an image whose tag the run already
 *   built (tags are content hashes in the Docker target), and a container of the same
 *   name whose inputs hash the same (the `nimbus.test.inputs` label); a container whose
 *   inputs changed is removed and created anew (the provider's replace). Nothing left
 *   out of the new program is deleted; `cleanup(runId)` is the teardown (the
 *   provider's destroy).
 * - Nothing is pulled, ever. A RemoteImage must already be on the engine (else an error
 *   naming the image); an Image's `FROM` images too. `keepLocally` and `forceRemove` do
 *   not matter: the mocks never remove an image they did not build.
 * - Image: built by the engine's classic builder (the provider defaults to BuildKit)
 *   with no network for RUN steps; `.dockerignore`, `cacheFrom`, `registry` and pushing
 *   are refused. The id is the image name, as the provider's; `repoDigest` is the local
 *   image id, as the provider gives it for a local-only image.
 * - Container networks: the provider's `networkMode` defaults to `bridge` (Docker's
 *   default network). Here a container joins only its `networksAdvanced` (the first at
 *   creation, the others before start), or no network at all without them, so test
 *   containers never share a network the test did not create. An explicit `networkMode`
 *   must be `none` or a network this run created.
 * - Container ports: bound to 127.0.0.1 when `ip` is not given (the provider binds
 *   0.0.0.0); any other address than 127.0.0.1 is refused.
 * - Container `mustRun` (default true) is checked once right after the start, as the
 *   provider's create does; `wait` polls the health status every 200 ms up to
 *   `waitTimeout` seconds (default 60), as the provider polls.
 * - Names: a Network, Volume or Container without `name` gets `<resource name>-<run id>`
 *   (the provider leaves naming to the engine or Pulumi's auto-naming).
 * - Upload `owner`/`group` must be numeric ids (the provider resolves names on the
 *   Pulumi host).
 */
import { createHash, randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, relative, resolve, sep } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { DockerEngine, noteContainer, runLabel } from "./engine.ts";
import { directoryEntries, type TarEntry, tarArchive } from "./tar.ts";

type Inputs = Record<string, any>;

/** What the mocks created (or kept, on a redeploy), in order, for a test to inspect. */
export interface Applied {
  type: string;
  name: string;
  id: string;
  /** True when a redeploy found it unchanged and kept it. */
  kept?: boolean;
}

/** The label holding a hash of a container's inputs, so a redeploy can tell it unchanged. */
export const inputsLabel = "nimbus.test.inputs";

const secretKey = "4dabf18193072939515e22adb298388d";
const secretSig = "1b47061264138c4ac30d75fd1eb44270";

/** The inputs as plain values: the mocks receive secrets wrapped, the engine needs them plain. */
function reveal(value: unknown): any {
  if (Array.isArray(value)) return value.map(reveal);
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    if (record[secretKey] === secretSig) return reveal(record.value);
    return Object.fromEntries(Object.entries(record).map(([key, item]) => [key, reveal(item)]));
  }
  return value;
}

/** A Go duration (`10s`, `1m30s`, `500ms`) in nanoseconds, as the provider reads health-check times. */
export function durationNs(text: string | undefined): number {
  if (text === undefined || text === "" || text === "0") return 0;
  const units: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let total = 0;
  let rest = text;
  while (rest.length > 0) {
    const match = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (!match) throw new Error(`"${text}" is not a duration; expected e.g. "10s", "1m30s" or "500ms"`);
    total += Number(match[1]) * units[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  return Math.round(total);
}

function refuseUnknown(type: string, name: string, inputs: Inputs, applied: readonly string[]): void {
  const unknown = Object.keys(inputs).filter((key) => inputs[key] !== undefined && !applied.includes(key));
  if (unknown.length > 0) {
    throw new Error(
      `engine mocks: ${type} "${name}" sets ${unknown.map((key) => `"${key}"`).join(", ")}, which the mocks do not apply to the engine; apply it in test/support/docker/engine-mocks.ts or leave it out.`,
    );
  }
}

const labelsOf = (labels: { label: string; value: string }[] | undefined, runId: string): Record<string, string> => ({
  ...Object.fromEntries((labels ?? []).map(({ label, value }) => [label, value])),
  [runLabel]: runId,
});

/** The `FROM` images of a Dockerfile, without `scratch` and the file's own stages. */
export function baseImages(dockerfile: string): string[] {
  const stages = new Set<string>();
  const images: string[] = [];
  for (const line of dockerfile.split(/\r?\n/)) {
    const match = /^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (!match) continue;
    const image = match[1]!;
    if (image !== "scratch" && !stages.has(image.toLowerCase())) images.push(image);
    if (match[2]) stages.add(match[2].toLowerCase());
  }
  return images;
}

export interface EngineMocksOptions {
  runId: string;
  engine?: DockerEngine;
}

/** The mocks; `applyOnEngine` installs them. */
export class EngineMocks implements pulumi.runtime.Mocks {
  readonly runId: string;
  readonly engine: DockerEngine;
  readonly applied: Applied[] = [];
  private readonly networks = new Map<string, string>();
  private readonly pending = new Set<Promise<unknown>>();
  private readonly errors: Error[] = [];
  private failed: (error: Error) => void = () => {};
  /** Settles at the first failed registration. */
  private readonly failure = new Promise<void>((resolveFailure) => {
    this.failed = () => resolveFailure();
  });

  constructor(opts: EngineMocksOptions) {
    this.runId = opts.runId;
    this.engine = opts.engine ?? new DockerEngine();
  }

  newResource(
    args: pulumi.runtime.MockResourceArgs,
  ): Promise<{ id: string | undefined; state: Record<string, any>; kept?: boolean }> {
    const work = this.create(args);
    this.pending.add(work);
    const done = () => this.pending.delete(work);
    return work.then(
      (result) => {
        done();
        if (result.id) {
          this.applied.push({
            type: args.type,
            name: args.name,
            id: result.id,
            ...(result.kept ? { kept: true } : {}),
          });
        }
        return result;
      },
      (error: Error) => {
        done();
        this.errors.push(error);
        this.failed(error);
        // As a failed step stops a deployment: the resource never completes, so nothing that
        // depends on it is created, and the SDK does not reject each of its outputs unhandled.
        // `settled` reports the error; the next setMocks drops the open registration.
        return new Promise<never>(() => {});
      },
    );
  }

  call(args: pulumi.runtime.MockCallArgs): Record<string, any> {
    throw new Error(
      `engine mocks: the program calls ${args.token}, which the mocks do not apply; add it to engine-mocks.ts.`,
    );
  }

  /**
   * Waits until every registration the program started has been answered, or one has
   * failed and every other in flight has finished; then throws the first failure.
   */
  async settled(): Promise<void> {
    await Promise.race([pulumi.runtime.disconnect(), this.failure]);
    do {
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
      // A registration waiting for an output that just resolved starts on a later turn.
      await new Promise((resolveTurn) => setImmediate(resolveTurn));
    } while (this.pending.size > 0);
    if (this.errors.length > 0) throw this.errors[0];
  }

  private async create(
    args: pulumi.runtime.MockResourceArgs,
  ): Promise<{ id: string | undefined; state: Inputs; kept?: boolean }> {
    // Components (and the stack) hold no engine object: their state is their inputs.
    if (!args.custom) return { id: undefined, state: args.inputs };
    const inputs: Inputs = reveal(args.inputs);
    let result: { id: string; outputs: Inputs; kept?: boolean };
    switch (args.type) {
      case "docker:index/network:Network":
        result = await this.network(args.name, inputs);
        break;
      case "docker:index/volume:Volume":
        result = await this.volume(args.name, inputs);
        break;
      case "docker:index/image:Image":
        result = await this.image(args.name, inputs);
        break;
      case "docker:index/remoteImage:RemoteImage":
        result = await this.remoteImage(args.name, inputs);
        break;
      case "docker:index/container:Container":
        result = await this.container(args.name, inputs);
        break;
      default:
        throw new Error(
          `engine mocks: resource "${args.name}" is a ${args.type}, which the mocks do not create on the engine; add it to engine-mocks.ts.`,
        );
    }
    // The raw inputs keep their secrets secret in the state the program reads back.
    return {
      id: result.id,
      state: { ...args.inputs, ...result.outputs },
      ...(result.kept ? { kept: true } : {}),
    };
  }

  private defaultName(name: string): string {
    return `${name}-${this.runId}`;
  }

  private async network(name: string, inputs: Inputs) {
    const type = "docker:index/network:Network";
    refuseUnknown(type, name, inputs, [
      "name",
      "driver",
      "internal",
      "attachable",
      "ipv6",
      "options",
      "labels",
      "checkDuplicate",
    ]);
    const networkName: string = inputs.name ?? this.defaultName(name);
    const existing = await this.ownNetwork(networkName);
    if (existing) {
      this.networks.set(networkName, existing.Id);
      this.networks.set(existing.Id, existing.Id);
      return {
        id: existing.Id,
        outputs: { name: networkName, driver: existing.Driver, scope: existing.Scope, options: existing.Options },
        kept: true,
      };
    }
    const created = await this.engine.call<{ Id: string }>("POST", "/networks/create", {
      json: {
        Name: networkName,
        CheckDuplicate: true,
        Driver: inputs.driver ?? "bridge",
        Internal: inputs.internal ?? false,
        Attachable: inputs.attachable ?? false,
        EnableIPv6: inputs.ipv6 ?? false,
        Options: inputs.options ?? {},
        Labels: labelsOf(inputs.labels, this.runId),
      },
    });
    const info = await this.engine.call<{ Scope: string; Driver: string; Options: Record<string, string> }>(
      "GET",
      `/networks/${created.Id}`,
    );
    this.networks.set(networkName, created.Id);
    this.networks.set(created.Id, created.Id);
    return {
      id: created.Id,
      outputs: { name: networkName, driver: info.Driver, scope: info.Scope, options: info.Options },
    };
  }

  private async volume(name: string, inputs: Inputs) {
    refuseUnknown("docker:index/volume:Volume", name, inputs, ["name", "driver", "driverOpts", "labels"]);
    const created = await this.engine.call<{ Name: string; Driver: string; Mountpoint: string }>(
      "POST",
      "/volumes/create",
      {
        json: {
          Name: inputs.name ?? this.defaultName(name),
          Driver: inputs.driver ?? "local",
          DriverOpts: inputs.driverOpts ?? {},
          Labels: labelsOf(inputs.labels, this.runId),
        },
      },
    );
    return {
      id: created.Name,
      outputs: { name: created.Name, driver: created.Driver, mountpoint: created.Mountpoint },
    };
  }

  private async image(name: string, inputs: Inputs) {
    const type = "docker:index/image:Image";
    refuseUnknown(type, name, inputs, ["imageName", "build", "skipPush", "buildOnPreview", "registry"]);
    const imageName: string = inputs.imageName;
    if (inputs.skipPush !== true) {
      throw new Error(
        `engine mocks: ${type} "${name}" would push ${imageName}; tests have no registry, set skipPush: true.`,
      );
    }
    if (inputs.registry !== undefined && Object.keys(inputs.registry).length > 0) {
      throw new Error(`engine mocks: ${type} "${name}" names a registry; tests have no registry.`);
    }
    const built = await this.engine.image(imageName);
    if (built?.Config.Labels?.[runLabel] === this.runId) {
      // A redeploy: the tag is the content's hash, so the same tag is the same image.
      return {
        id: imageName,
        outputs: { imageName, baseImageName: imageName, repoDigest: built.Id, registryServer: "" },
        kept: true,
      };
    }
    const build: Inputs = inputs.build ?? {};
    refuseUnknown(`${type} build`, name, build, [
      "context",
      "dockerfile",
      "args",
      "target",
      "platform",
      "builderVersion",
    ]);
    // As the provider: the context and the Dockerfile are relative to the working directory,
    // the Dockerfile defaults to the context's.
    const context = resolve(build.context ?? ".");
    const dockerfile = resolve(build.dockerfile ?? join(build.context ?? ".", "Dockerfile"));
    if (existsSync(join(context, ".dockerignore"))) {
      throw new Error(
        `engine mocks: ${type} "${name}": the context ${context} has a .dockerignore, which the mocks do not apply.`,
      );
    }
    const dockerfileText = readFileSync(dockerfile, "utf8");
    for (const base of baseImages(dockerfileText)) {
      if (base.includes("$")) {
        throw new Error(
          `engine mocks: ${type} "${name}": FROM ${base} uses a build argument, which the mocks do not resolve.`,
        );
      }
      if ((await this.engine.image(base)) === undefined) {
        throw new Error(
          `engine mocks: ${type} "${name}" builds FROM ${base}, which is not on the Docker engine; nothing is pulled in tests. Build it first (node --conditions=nimbus-source test/support/docker/build-images.ts) or use a local image.`,
        );
      }
    }
    const entries: TarEntry[] = directoryEntries(context);
    let dockerfileInContext = relative(context, dockerfile);
    if (dockerfileInContext.startsWith(`..${sep}`)) {
      dockerfileInContext = `.dockerfile-${randomBytes(6).toString("hex")}`;
      entries.push({ path: dockerfileInContext, type: "file", mode: 0o644, content: Buffer.from(dockerfileText) });
    }
    await this.engine.stream("POST", "/build", {
      query: {
        t: imageName,
        dockerfile: dockerfileInContext.split(sep).join("/"),
        labels: JSON.stringify({ [runLabel]: this.runId }),
        buildargs: build.args ? JSON.stringify(build.args) : undefined,
        target: build.target,
        platform: build.platform,
        networkmode: "none",
        rm: true,
        forcerm: true,
      },
      body: tarArchive(entries),
      contentType: "application/x-tar",
      timeoutMs: 300_000,
    });
    const image = await this.engine.image(imageName);
    if (!image) throw new Error(`engine mocks: ${type} "${name}": the build finished but ${imageName} is not there.`);
    return {
      id: imageName,
      outputs: {
        imageName,
        baseImageName: imageName,
        repoDigest: image.Id,
        registryServer: "",
        context: build.context ?? ".",
        dockerfile: dockerfileInContext,
        ...(build.platform ? { platform: build.platform } : {}),
      },
    };
  }

  private async remoteImage(name: string, inputs: Inputs) {
    const type = "docker:index/remoteImage:RemoteImage";
    refuseUnknown(type, name, inputs, ["name", "keepLocally", "forceRemove", "pullTriggers", "triggers", "platform"]);
    const image = await this.engine.image(inputs.name);
    if (!image) {
      throw new Error(
        `engine mocks: ${type} "${name}" is ${inputs.name}, which is not on the Docker engine; nothing is pulled in tests. Point the stack's image settings at a local image (test/support/docker/images.ts testImages) and build it (node --conditions=nimbus-source test/support/docker/build-images.ts).`,
      );
    }
    return {
      id: `${image.Id}${inputs.name}`,
      outputs: { name: inputs.name, imageId: image.Id, repoDigest: image.RepoDigests?.[0] ?? "" },
    };
  }

  private async container(name: string, inputs: Inputs) {
    const type = "docker:index/container:Container";
    refuseUnknown(type, name, inputs, [
      "name",
      "image",
      "command",
      "entrypoints",
      "envs",
      "user",
      "workingDir",
      "hostname",
      "labels",
      "networksAdvanced",
      "networkMode",
      "ports",
      "mounts",
      "volumes",
      "tmpfs",
      "restart",
      "maxRetryCount",
      "memory",
      "memorySwap",
      "cpuShares",
      "cpus",
      "cpuSet",
      "runtime",
      "readOnly",
      "init",
      "capabilities",
      "securityOpts",
      "stopSignal",
      "stopTimeout",
      "healthcheck",
      "uploads",
      "mustRun",
      "wait",
      "waitTimeout",
      "start",
      "attach",
      "logs",
      "rm",
      "destroyGraceSeconds",
      "removeVolumes",
      "containerReadRefreshTimeoutMilliseconds",
    ]);
    const containerName: string = inputs.name ?? this.defaultName(name);
    const inputsHash = createHash("sha256").update(JSON.stringify(inputs)).digest("hex").slice(0, 32);
    const previous = await this.engine
      .call<ContainerInfo & { Id: string; Config: { Labels: Record<string, string> | null } }>(
        "GET",
        `/containers/${encodeURIComponent(containerName)}/json`,
      )
      .catch(() => undefined);
    if (previous && previous.Config.Labels?.[runLabel] === this.runId) {
      if (previous.Config.Labels?.[inputsLabel] === inputsHash) {
        const outputs: Inputs = { name: containerName };
        if (inputs.attach === true) {
          outputs.exitCode = previous.State.ExitCode;
          if (inputs.logs === true) outputs.containerLogs = await this.logs(previous.Id);
        }
        return { ...(await this.containerOutputs(previous.Id, inputs, outputs)), kept: true };
      }
      // Changed inputs: the provider replaces the container.
      await this.engine.call("DELETE", `/containers/${previous.Id}`, { query: { force: true, v: true } });
    }
    const networks: { name: string; aliases?: string[]; ipv4Address?: string; ipv6Address?: string }[] =
      inputs.networksAdvanced ?? [];
    const networkId = async (network: string): Promise<string> => {
      const known = this.networks.get(network);
      if (known !== undefined) return known;
      // A network of this run created by an earlier program (a redeploy in the same test).
      const found = await this.engine
        .call<{ Id: string; Labels: Record<string, string> | null }>("GET", `/networks/${encodeURIComponent(network)}`)
        .catch(() => undefined);
      if (found?.Labels?.[runLabel] === this.runId) return found.Id;
      throw new Error(
        `engine mocks: ${type} "${name}" joins network "${network}", which this run did not create; test containers talk only on the tests' own networks.`,
      );
    };
    const endpoint = (network: (typeof networks)[number]) => ({
      Aliases: network.aliases ?? [],
      ...(network.ipv4Address || network.ipv6Address
        ? { IPAMConfig: { IPv4Address: network.ipv4Address, IPv6Address: network.ipv6Address } }
        : {}),
    });
    let networkMode: string;
    if (inputs.networkMode === undefined) networkMode = networks[0] ? await networkId(networks[0].name) : "none";
    else if (inputs.networkMode === "none") networkMode = "none";
    else networkMode = await networkId(inputs.networkMode);

    const exposed: Record<string, object> = {};
    const bindings: Record<string, { HostIp: string; HostPort: string }[]> = {};
    for (const port of (inputs.ports ?? []) as {
      internal: number;
      external?: number;
      ip?: string;
      protocol?: string;
    }[]) {
      const ip = port.ip ?? "127.0.0.1";
      if (ip !== "127.0.0.1") {
        throw new Error(
          `engine mocks: ${type} "${name}" publishes port ${port.internal} on ${ip}; tests publish on 127.0.0.1 only (leave ip unset or set "127.0.0.1").`,
        );
      }
      const key = `${port.internal}/${port.protocol ?? "tcp"}`;
      exposed[key] = {};
      bindings[key] = [
        ...(bindings[key] ?? []),
        { HostIp: ip, HostPort: port.external === undefined ? "" : String(port.external) },
      ];
    }

    const mounts = ((inputs.mounts ?? []) as Inputs[]).map((mount) => ({
      Type: mount.type,
      Source: mount.source,
      Target: mount.target,
      ReadOnly: mount.readOnly ?? false,
      ...(mount.bindOptions ? { BindOptions: { Propagation: mount.bindOptions.propagation } } : {}),
      ...(mount.volumeOptions
        ? {
            VolumeOptions: {
              NoCopy: mount.volumeOptions.noCopy,
              Labels: Object.fromEntries(
                ((mount.volumeOptions.labels ?? []) as { label: string; value: string }[]).map((l) => [
                  l.label,
                  l.value,
                ]),
              ),
              ...(mount.volumeOptions.driverName
                ? { DriverConfig: { Name: mount.volumeOptions.driverName, Options: mount.volumeOptions.driverOptions } }
                : {}),
            },
          }
        : {}),
      ...(mount.tmpfsOptions
        ? { TmpfsOptions: { SizeBytes: mount.tmpfsOptions.sizeBytes, Mode: mount.tmpfsOptions.mode } }
        : {}),
    }));
    const binds = ((inputs.volumes ?? []) as Inputs[]).map((volume) => {
      if (volume.fromContainer)
        throw new Error(`engine mocks: ${type} "${name}": volumes[].fromContainer is not applied.`);
      const source = volume.hostPath ?? volume.volumeName;
      return `${source}:${volume.containerPath}${volume.readOnly ? ":ro" : ""}`;
    });

    const health = inputs.healthcheck as Inputs | undefined;
    noteContainer(this.runId, containerName);
    const created = await this.engine.call<{ Id: string }>("POST", "/containers/create", {
      query: { name: containerName },
      json: {
        Image: inputs.image,
        Cmd: inputs.command,
        Entrypoint: inputs.entrypoints,
        Env: inputs.envs ?? [],
        User: inputs.user ?? "",
        WorkingDir: inputs.workingDir ?? "",
        Hostname: inputs.hostname ?? "",
        Labels: { ...labelsOf(inputs.labels, this.runId), [inputsLabel]: inputsHash },
        ExposedPorts: exposed,
        StopSignal: inputs.stopSignal,
        StopTimeout: inputs.stopTimeout,
        ...(health
          ? {
              Healthcheck: {
                Test: health.tests,
                Interval: durationNs(health.interval),
                Timeout: durationNs(health.timeout),
                StartPeriod: durationNs(health.startPeriod),
                Retries: health.retries ?? 0,
              },
            }
          : {}),
        HostConfig: {
          NetworkMode: networkMode,
          PortBindings: bindings,
          RestartPolicy: { Name: inputs.restart ?? "no", MaximumRetryCount: inputs.maxRetryCount ?? 0 },
          Memory: (inputs.memory ?? 0) * 1024 * 1024,
          ...(inputs.memorySwap !== undefined
            ? { MemorySwap: inputs.memorySwap === -1 ? -1 : inputs.memorySwap * 1024 * 1024 }
            : {}),
          CpuShares: inputs.cpuShares ?? 0,
          NanoCpus: inputs.cpus === undefined ? 0 : Math.round(Number(inputs.cpus) * 1e9),
          CpusetCpus: inputs.cpuSet ?? "",
          ...(inputs.runtime ? { Runtime: inputs.runtime } : {}),
          ReadonlyRootfs: inputs.readOnly ?? false,
          Tmpfs: inputs.tmpfs ?? {},
          Mounts: mounts,
          Binds: binds,
          Init: inputs.init ?? false,
          CapAdd: inputs.capabilities?.adds ?? [],
          CapDrop: inputs.capabilities?.drops ?? [],
          SecurityOpt: inputs.securityOpts ?? [],
          AutoRemove: inputs.rm ?? false,
        },
        NetworkingConfig:
          networkMode === "none" || !networks[0] ? {} : { EndpointsConfig: { [networkMode]: endpoint(networks[0]) } },
      },
    });
    const id = created.Id;
    for (const network of networks.slice(1)) {
      await this.engine.call("POST", `/networks/${await networkId(network.name)}/connect`, {
        json: { Container: id, EndpointConfig: endpoint(network) },
      });
    }
    const uploads = (inputs.uploads ?? []) as Inputs[];
    if (uploads.length > 0) {
      const entries: TarEntry[] = uploads.map((upload) => {
        const content =
          upload.content !== undefined
            ? Buffer.from(upload.content, "utf8")
            : upload.contentBase64 !== undefined
              ? Buffer.from(upload.contentBase64, "base64")
              : readFileSync(upload.source);
        const numeric = (value: string | undefined, what: string) => {
          if (value === undefined) return 0;
          if (!/^\d+$/.test(value))
            throw new Error(`engine mocks: ${type} "${name}": uploads[].${what} must be a numeric id.`);
          return Number(value);
        };
        return {
          path: String(upload.file).replace(/^\/+/, ""),
          type: "file",
          mode:
            upload.permissions !== undefined
              ? Number.parseInt(upload.permissions, 8)
              : upload.executable
                ? 0o744
                : 0o644,
          uid: numeric(upload.owner, "owner"),
          gid: numeric(upload.group, "group"),
          content,
        };
      });
      await this.engine.call("PUT", `/containers/${id}/archive`, {
        query: { path: "/" },
        body: tarArchive(entries),
        contentType: "application/x-tar",
      });
    }

    const outputs: Inputs = { name: containerName };
    if (inputs.start !== false) {
      await this.engine.call("POST", `/containers/${id}/start`);
      if (inputs.attach === true) {
        const exit = await this.engine.call<{ StatusCode: number }>("POST", `/containers/${id}/wait`, {
          timeoutMs: 600_000,
        });
        outputs.exitCode = exit.StatusCode;
        if (inputs.logs === true) outputs.containerLogs = await this.logs(id);
      } else {
        if (inputs.mustRun ?? true) {
          const state = await this.state(id);
          if (!state.Running) {
            throw new Error(
              `engine mocks: container ${containerName} exited (code ${state.ExitCode}) right after its start, and mustRun is true. Its log:\n${await this.logs(id)}`,
            );
          }
        }
        if (inputs.wait === true) await this.waitHealthy(id, containerName, (inputs.waitTimeout ?? 60) * 1000);
      }
    }
    return this.containerOutputs(id, inputs, outputs);
  }

  /** The outputs the provider reads back from the engine after a create. */
  private async containerOutputs(
    id: string,
    inputs: Inputs,
    outputs: Inputs,
  ): Promise<{ id: string; outputs: Inputs }> {
    const info = await this.engine.call<ContainerInfo>("GET", `/containers/${id}/json`);
    outputs.hostname = info.Config.Hostname;
    outputs.networkDatas = Object.entries(info.NetworkSettings.Networks ?? {}).map(([networkName, data]) => ({
      networkName,
      ipAddress: data.IPAddress,
      ipPrefixLength: data.IPPrefixLen,
      gateway: data.Gateway,
      macAddress: data.MacAddress,
    }));
    if (inputs.ports) {
      // A port published without `external` gets a free one: the state holds the one it got.
      outputs.ports = (inputs.ports as { internal: number; external?: number; ip?: string; protocol?: string }[]).map(
        (port) => {
          const key = `${port.internal}/${port.protocol ?? "tcp"}`;
          const bound = info.NetworkSettings.Ports?.[key]?.[0];
          return {
            internal: port.internal,
            external: port.external ?? (bound ? Number(bound.HostPort) : undefined),
            ip: port.ip ?? "127.0.0.1",
            protocol: port.protocol ?? "tcp",
          };
        },
      );
    }
    return { id, outputs };
  }

  /** The network of this run by that name, made by an earlier program of the run (a redeploy). */
  private async ownNetwork(name: string): Promise<
    | {
        Id: string;
        Driver: string;
        Scope: string;
        Options: Record<string, string>;
        Labels: Record<string, string> | null;
      }
    | undefined
  > {
    const found = await this.engine
      .call<{
        Id: string;
        Name: string;
        Driver: string;
        Scope: string;
        Options: Record<string, string>;
        Labels: Record<string, string> | null;
      }>("GET", `/networks/${encodeURIComponent(name)}`)
      .catch(() => undefined);
    return found?.Name === name && found.Labels?.[runLabel] === this.runId ? found : undefined;
  }

  private async state(id: string): Promise<ContainerInfo["State"]> {
    return (await this.engine.call<ContainerInfo>("GET", `/containers/${id}/json`)).State;
  }

  /** The container's output (stdout and stderr), from the engine's multiplexed stream. */
  private async logs(id: string): Promise<string> {
    const { body } = await this.engine.request("GET", `/containers/${id}/logs`, {
      query: { stdout: true, stderr: true, tail: "50" },
    });
    const parts: Buffer[] = [];
    let offset = 0;
    while (offset + 8 <= body.length) {
      const size = body.readUInt32BE(offset + 4);
      parts.push(body.subarray(offset + 8, offset + 8 + size));
      offset += 8 + size;
    }
    return Buffer.concat(parts).toString("utf8");
  }

  private async waitHealthy(id: string, name: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const state = await this.state(id);
      const status = state.Health?.Status;
      if (status === "healthy") return;
      if (status === undefined) throw new Error(`engine mocks: container ${name} has wait: true but no health check.`);
      if (!state.Running || Date.now() > deadline) {
        const last = state.Health?.Log?.at(-1)?.Output?.trim() ?? "";
        throw new Error(
          `engine mocks: container ${name} was not healthy within ${timeoutMs / 1000}s (status ${status}, ${state.Running ? "running" : `exited ${state.ExitCode}`}). Last check: ${last}\nLog:\n${await this.logs(id)}`,
        );
      }
      await new Promise((resolveWait) => setTimeout(resolveWait, 200));
    }
  }
}

interface ContainerInfo {
  State: {
    Running: boolean;
    ExitCode: number;
    Health?: { Status: string; Log?: { Output?: string }[] };
  };
  Config: { Hostname: string };
  NetworkSettings: {
    Networks?: Record<string, { IPAddress: string; IPPrefixLen: number; Gateway: string; MacAddress: string }>;
    Ports?: Record<string, { HostIp: string; HostPort: string }[] | null>;
  };
}

export interface ApplyOptions {
  runId: string;
  /** @default "nimbus-test" */
  project?: string;
  /** @default the run id */
  stack?: string;
  engine?: DockerEngine;
}

/**
 * Installs the engine mocks for a program about to run (awaited: a registration before
 * the mocks are in place hangs). Construct the program's resources after this, then
 * `await mocks.settled()`; `cleanup(runId)` afterwards, also when the test failed.
 */
export async function applyOnEngine(opts: ApplyOptions): Promise<EngineMocks> {
  const mocks = new EngineMocks({ runId: opts.runId, ...(opts.engine ? { engine: opts.engine } : {}) });
  await pulumi.runtime.setMocks(mocks, opts.project ?? "nimbus-test", opts.stack ?? opts.runId, false);
  return mocks;
}
