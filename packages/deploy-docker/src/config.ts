import { NimbusError } from "@nimbus/core";
import * as pulumi from "@pulumi/pulumi";

/** An S3 endpoint outside the stack, used instead of the Nimbus store. */
export interface ExternalS3 {
  /** @example "https://s3.eu-central-1.amazonaws.com" */
  endpoint: string;
  /** @default "us-east-1" */
  region: string;
  accessKeyId: pulumi.Input<string>;
  secretAccessKey: pulumi.Input<string>;
}

/** A stack's settings of the Docker target: `pulumi config set nimbus:<key> <value>`. */
export interface DockerStackConfig {
  images: {
    /**
     * The Node image the host's base layer is built on (`nimbus:baseImage`).
     * @default "node:24-bookworm-slim"
     */
    base: string;
    /**
     * The NATS server image; it must hold `nats-server` on its PATH (`nimbus:natsImage`).
     * @default "nats:2.10-alpine"
     */
    nats: string;
    /**
     * The Caddy image of the gateway (`nimbus:gatewayImage`).
     * @default "caddy:2.8-alpine"
     */
    gateway: string;
  };
  /**
   * The host port the gateway publishes (`nimbus:gatewayPort`).
   * @default 8080
   */
  gatewayPort: number;
  /**
   * The host address the gateway's port is bound to (`nimbus:gatewayAddress`): only this
   * machine by default; `0.0.0.0` opens it to every network the Docker host is on (put
   * TLS in front).
   * @default "127.0.0.1"
   */
  gatewayAddress?: string;
  /**
   * The host port the store's S3 endpoint is published on, always on 127.0.0.1 only
   * (`nimbus:storePort`): for backups and tools on the Docker host.
   * @default 9000
   */
  storePort?: number;
  /**
   * Use this S3 endpoint instead of running the Nimbus store (`nimbus:s3Endpoint`,
   * `nimbus:s3Region`, `nimbus:s3AccessKeyId`, secret `nimbus:s3SecretAccessKey`).
   * @default undefined (the Nimbus store runs on a volume)
   */
  s3?: ExternalS3;
  /**
   * The secret every generated credential (NATS passwords, store keys) is derived from,
   * so they stay the same from one deploy to the next (secret `nimbus:credentialSeed`).
   * @example a random 32-byte hex string: `openssl rand -hex 32`
   */
  credentialSeed: pulumi.Input<string>;
}

/** Pinned, so that a deploy never pulls a new version unasked; a Docker host may have no registry at all. */
export const defaultImages: DockerStackConfig["images"] = {
  base: "node:24-bookworm-slim",
  nats: "nats:2.10-alpine",
  gateway: "caddy:2.8-alpine",
};

export const defaultGatewayPort = 8080;
export const defaultGatewayAddress = "127.0.0.1";
export const defaultStorePort = 9000;

/** What `readStackConfig` reads: Pulumi's `Config` or a stand-in with the same methods. */
export interface ConfigSource {
  get(key: string): string | undefined;
  getSecret(key: string): pulumi.Output<string> | undefined;
}

/**
 * The stack's `nimbus:*` settings, each checked, with the pinned defaults filled in. A
 * missing or wrong value fails with the key and the command that sets it.
 */
export function readStackConfig(config: ConfigSource = new pulumi.Config("nimbus")): DockerStackConfig {
  const port = (key: "gatewayPort" | "storePort", fallback: number): number => {
    const text = config.get(key);
    const value = text === undefined ? fallback : Number(text);
    if (!Number.isInteger(value) || value < 1 || value > 65_535) {
      throw new NimbusError(
        "NIMBUS_DOCKER_CONFIG",
        `Stack config nimbus:${key} is "${text}"; expected a port from 1 to 65535. Set it with: pulumi config set nimbus:${key} ${fallback}`,
      );
    }
    return value;
  };
  const gatewayPort = port("gatewayPort", defaultGatewayPort);
  const storePort = port("storePort", defaultStorePort);
  const gatewayAddress = config.get("gatewayAddress") ?? defaultGatewayAddress;
  if (!/^(\d{1,3}\.){3}\d{1,3}$/.test(gatewayAddress) || gatewayAddress.split(".").some((part) => Number(part) > 255)) {
    throw new NimbusError(
      "NIMBUS_DOCKER_CONFIG",
      `Stack config nimbus:gatewayAddress is "${gatewayAddress}"; expected an IPv4 address of the Docker host, e.g. 127.0.0.1 (the default) or 0.0.0.0 to open the gateway to every network. Set it with: pulumi config set nimbus:gatewayAddress 0.0.0.0`,
    );
  }
  const credentialSeed = config.getSecret("credentialSeed");
  if (credentialSeed === undefined) {
    throw new NimbusError(
      "NIMBUS_DOCKER_CONFIG",
      "Stack config nimbus:credentialSeed is not set; the NATS passwords and store keys are derived from it. Set it once per stack with: pulumi config set --secret nimbus:credentialSeed $(openssl rand -hex 32)",
    );
  }
  const endpoint = config.get("s3Endpoint");
  let s3: ExternalS3 | undefined;
  if (endpoint !== undefined) {
    if (!URL.canParse(endpoint)) {
      throw new NimbusError(
        "NIMBUS_DOCKER_CONFIG",
        `Stack config nimbus:s3Endpoint is "${endpoint}", which is not a URL; expected e.g. https://s3.eu-central-1.amazonaws.com.`,
      );
    }
    const accessKeyId = config.get("s3AccessKeyId");
    const secretAccessKey = config.getSecret("s3SecretAccessKey");
    if (accessKeyId === undefined || secretAccessKey === undefined) {
      throw new NimbusError(
        "NIMBUS_DOCKER_CONFIG",
        "Stack config nimbus:s3Endpoint is set but nimbus:s3AccessKeyId or nimbus:s3SecretAccessKey is not; an external S3 endpoint needs both. Set them with: pulumi config set nimbus:s3AccessKeyId <id> && pulumi config set --secret nimbus:s3SecretAccessKey <key>",
      );
    }
    s3 = { endpoint, region: config.get("s3Region") ?? "us-east-1", accessKeyId, secretAccessKey };
  }
  return {
    images: {
      base: config.get("baseImage") ?? defaultImages.base,
      nats: config.get("natsImage") ?? defaultImages.nats,
      gateway: config.get("gatewayImage") ?? defaultImages.gateway,
    },
    gatewayPort,
    gatewayAddress,
    storePort,
    ...(s3 ? { s3 } : {}),
    credentialSeed,
  };
}
