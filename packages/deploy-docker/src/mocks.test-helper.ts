/**
 * Plain Pulumi mocks for the tests and the bench: every resource registered is recorded
 * with its type, name and inputs; its state is its inputs (plus an `imageId` for remote
 * images); any call (invoke) throws, so a component that reaches for one fails loudly.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";

export interface Registered {
  type: string;
  name: string;
  custom: boolean;
  /** The inputs with every secret's value in place. */
  inputs: Record<string, unknown>;
  /** The top-level inputs that were (or held) a Pulumi secret. */
  secrets: string[];
}

/** The signature Pulumi's wire format marks a secret with. */
const secretSig = "1b47061264138c4ac30d75fd1eb44270";

function reveal(value: unknown, found: { secret: boolean }): unknown {
  if (Array.isArray(value)) return value.map((item) => reveal(item, found));
  if (typeof value !== "object" || value === null) return value;
  const record = value as Record<string, unknown>;
  if (Object.values(record).includes(secretSig) && "value" in record) {
    found.secret = true;
    return reveal(record.value, found);
  }
  return Object.fromEntries(Object.entries(record).map(([key, item]) => [key, reveal(item, found)]));
}

/** Sets the mocks for `stack` (awaited: a mock not yet in place makes a registration hang) and gives the record. */
export async function mockPulumi(stack = "dev"): Promise<Registered[]> {
  const registered: Registered[] = [];
  await pulumi.runtime.setMocks(
    {
      newResource(args) {
        const inputs: Record<string, unknown> = {};
        const secrets: string[] = [];
        for (const [key, value] of Object.entries(args.inputs as Record<string, unknown>)) {
          const found = { secret: false };
          inputs[key] = reveal(value, found);
          if (found.secret) secrets.push(key);
        }
        registered.push({ type: args.type, name: args.name, custom: args.custom ?? true, inputs, secrets });
        const state: Record<string, unknown> = { ...args.inputs };
        if (args.type === "docker:index/remoteImage:RemoteImage") state.imageId = `sha256:${args.name}`;
        return { id: `${args.name}-id`, state };
      },
      call(args) {
        // Pulumi reports a failed invoke by the error's `details`.
        const message = `unmocked call: ${args.token}`;
        throw Object.assign(new Error(message), { details: message });
      },
    },
    "nimbus-test",
    stack,
    false,
  );
  return registered;
}

/** Waits until every registration the program started has been answered. */
export async function settled(): Promise<void> {
  await pulumi.runtime.disconnect();
}

/** A value an Output holds, awaited (the mocks resolve every Output). */
export function outputValue<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((value) => resolve(value)));
}

/** A host folder with a `main.js`, and one bundle per function, in a fresh temporary folder. */
export function fakeBuild(functions: readonly string[], content = (fn: string) => `export default { fn: "${fn}" };\n`) {
  const dir = mkdtempSync(join(tmpdir(), "nimbus-deploy-docker-"));
  const hostDir = join(dir, "host");
  const bundles: Record<string, string> = {};
  mkdirSync(hostDir, { recursive: true });
  writeFileSync(join(hostDir, "main.js"), "console.log('host');\n");
  for (const fn of functions) {
    bundles[fn] = join(dir, `${fn}.mjs`);
    writeFileSync(bundles[fn], content(fn));
  }
  return { dir, hostDir, bundles, buildDir: join(dir, "build") };
}
