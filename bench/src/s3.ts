/**
 * The S3 endpoint issue's figures: PUT and GET ops/s of 1 KiB objects (one at a time and
 * 16 in flight) and MB/s of one large object each way, all through `@aws-sdk/client-s3`,
 * against the emulator, against s3rver, and against a stub that stores nothing (the
 * SDK's own ceiling here). Every server runs in this process, as the SDK does, and each
 * target gets one client with the same settings, kept for the whole run, as an app would.
 * Targets take turns within each row, so drift on the machine touches all three alike.
 * s3rver keeps its default credentials (S3RVER/S3RVER); the stub checks none.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { createEmulator } from "@nimbus/emulator";
import { startS3Stub } from "./s3-stub.ts";
import {
  copyApp,
  formatCount as count,
  KiB,
  MiB,
  mbPerSecond,
  median,
  smallObjectRows,
  type TimedRuns,
  timedCount,
} from "./support.ts";

const bucket = "objects";
const smallSize = KiB;
const largeKey = "large/object";

interface Settings extends TimedRuns {
  /** Distinct keys the small loops cycle through; gets read what the puts wrote. */
  keys: number;
  largeSize: number;
  /** Untimed put-and-get rounds of the large object before the timed ones. */
  largeWarmup: number;
  largeRuns: number;
}

const full: Settings = {
  keys: 1000,
  warmup: 200,
  seconds: 2,
  minCount: 300,
  runs: 3,
  largeSize: 64 * MiB,
  largeWarmup: 1,
  largeRuns: 3,
};
const smoke: Settings = {
  keys: 30,
  warmup: 5,
  seconds: 0,
  minCount: 30,
  fixedCount: 30,
  runs: 1,
  largeSize: 4 * MiB,
  largeWarmup: 0,
  largeRuns: 1,
};

const rows = smallObjectRows;
type Row = (typeof rows)[number];

interface Target {
  name: string;
  client: S3Client;
  close(): Promise<void>;
}

interface Credentials {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

/** The one set of client settings every target gets: the SDK's defaults, path-style. */
function clientFor({ endpoint, region, accessKeyId, secretAccessKey }: Credentials): S3Client {
  return new S3Client({ endpoint, region, forcePathStyle: true, credentials: { accessKeyId, secretAccessKey } });
}

async function startNimbus(): Promise<Target> {
  const app = await copyApp("buckets");
  const emu = await createEmulator({ root: app.dir, watch: false, logFormat: "silent" });
  const client = clientFor(emu.s3);
  return {
    name: "nimbus",
    client,
    async close() {
      client.destroy();
      await emu.close();
      await app.remove();
    },
  };
}

/** The part of s3rver's API used here; it ships no types. */
interface S3rverInstance {
  run(): Promise<{ address: string; port: number }>;
  close(): Promise<void>;
}
type S3rverClass = new (options: {
  port: number;
  address: string;
  silent: boolean;
  directory: string;
  configureBuckets: { name: string }[];
}) => S3rverInstance;

async function startS3rver(): Promise<Target> {
  const S3rver = createRequire(import.meta.url)("s3rver") as S3rverClass;
  const directory = await mkdtemp(join(tmpdir(), "nimbus-bench-s3rver-"));
  const server = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory,
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  // s3rver's fixed credentials.
  const client = clientFor({
    endpoint: `http://127.0.0.1:${port}`,
    region: "us-east-1",
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
  });
  return {
    name: "s3rver",
    client,
    async close() {
      client.destroy();
      await server.close();
      await rm(directory, { recursive: true, force: true });
    },
  };
}

async function startStub(largeSize: number): Promise<Target> {
  const stub = await startS3Stub((key) => (key === largeKey ? largeSize : smallSize));
  // The stub checks no signature; any credentials do.
  const client = clientFor({
    endpoint: stub.endpoint,
    region: "us-east-1",
    accessKeyId: "stub",
    secretAccessKey: "stub",
  });
  return {
    name: "stub",
    client,
    async close() {
      client.destroy();
      await stub.close();
    },
  };
}

/** Runs `work` against `target`; a failure names the target. */
async function on<T>(target: Target, work: (client: S3Client) => Promise<T>): Promise<T> {
  try {
    return await work(target.client);
  } catch (error) {
    throw new Error(`S3 bench against ${target.name}: ${(error as Error).message}`, { cause: error });
  }
}

/** `count` ops of `row`, `row.inFlight` at a time, over keys `small/0` to `small/<keys - 1>`; answers ops/s. */
async function runSmall(client: S3Client, row: Row, count: number, keys: number): Promise<number> {
  const body = Buffer.alloc(smallSize, 7);
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const Key = `small/${next++ % keys}`;
      if (row.op === "put") {
        await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: body }));
      } else {
        const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key }));
        const bytes = await object.Body!.transformToByteArray();
        if (bytes.byteLength !== smallSize) throw new Error(`get ${Key}: ${bytes.byteLength} bytes, not ${smallSize}`);
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: row.inFlight }, lane));
  return count / ((performance.now() - started) / 1000);
}

/** One put of the large object from a Buffer, then one get streamed to its end and dropped; answers each in MB/s. */
async function runLarge(client: S3Client, body: Buffer): Promise<{ put: number; get: number }> {
  let started = performance.now();
  await client.send(new PutObjectCommand({ Bucket: bucket, Key: largeKey, Body: body }));
  const put = mbPerSecond(body.byteLength, performance.now() - started);
  started = performance.now();
  const object = await client.send(new GetObjectCommand({ Bucket: bucket, Key: largeKey }));
  let bytes = 0;
  for await (const chunk of object.Body as AsyncIterable<Uint8Array>) bytes += chunk.byteLength;
  const get = mbPerSecond(bytes, performance.now() - started);
  if (bytes !== body.byteLength) throw new Error(`get ${largeKey}: ${bytes} bytes, not ${body.byteLength}`);
  return { put, get };
}

interface Figures {
  /** ops/s per row of `rows`, median of the runs. */
  small: number[];
  /** MB/s, median of the runs. */
  put: number;
  get: number;
}

/**
 * Every row for every target. Within a row the targets take turns run by run, and the
 * first two (the pair whose ratio is judged) swap places every other run, so neither
 * always runs first and drift on the machine touches both alike.
 */
async function measure(targets: Target[], settings: Settings): Promise<Figures[]> {
  const inOrder = targets.map((_, index) => index);
  const swapped = [1, 0, ...inOrder.slice(2)];
  const turns = (run: number) => (run % 2 === 0 ? inOrder : swapped);
  const samples = targets.map(() => rows.map((): number[] => []));
  for (const target of targets) {
    // Writes every key once, so gets find them all; doubles as the first warm-up.
    await on(target, (client) => runSmall(client, { op: "put", inFlight: 16 }, settings.keys, settings.keys));
  }
  for (const [rowIndex, row] of rows.entries()) {
    const counts: number[] = [];
    for (const target of targets) {
      const warm = await on(target, (client) => runSmall(client, row, settings.warmup, settings.keys));
      counts.push(timedCount(settings, warm));
    }
    for (let run = 0; run < settings.runs; run++) {
      for (const index of turns(run)) {
        const opsPerSecond = await on(targets[index]!, (client) =>
          runSmall(client, row, counts[index]!, settings.keys),
        );
        samples[index]![rowIndex]!.push(opsPerSecond);
      }
    }
  }
  const body = Buffer.alloc(settings.largeSize, 7);
  const large = targets.map(() => ({ put: [] as number[], get: [] as number[] }));
  for (const target of targets) {
    for (let i = 0; i < settings.largeWarmup; i++) await on(target, (client) => runLarge(client, body));
  }
  for (let run = 0; run < settings.largeRuns; run++) {
    for (const index of turns(run)) {
      const { put, get } = await on(targets[index]!, (client) => runLarge(client, body));
      large[index]!.put.push(put);
      large[index]!.get.push(get);
    }
  }
  return targets.map((_, index) => ({
    small: samples[index]!.map(median),
    put: median(large[index]!.put),
    get: median(large[index]!.get),
  }));
}

export async function benchS3(options: { smoke: boolean }): Promise<void> {
  const settings = options.smoke ? smoke : full;
  const targets: Target[] = [];
  let figures: Figures[];
  try {
    targets.push(await startNimbus(), await startStub(settings.largeSize), await startS3rver());
    figures = await measure(targets, settings);
  } finally {
    for (const target of targets) await target.close();
  }
  const [nimbus, stub, s3rver] = figures as [Figures, Figures, Figures];

  // A smoke pass's figures mean nothing, so it judges none of them.
  const judge = (met: boolean) => (met || options.smoke ? "" : "   MISSED");
  const large = `${settings.largeSize / MiB} MiB`;
  const line = (name: string, cells: string[], ratio: number, goal: string) =>
    `   ${name.padEnd(16)}${cells.map((cell) => cell.padStart(12)).join("")}${`${(ratio * 100).toFixed(0)}%`.padStart(14)}   ${goal}`.trimEnd();
  const runs = settings.runs > 1 ? `median of ${settings.runs} runs of ~${settings.seconds} s` : "1 run";
  console.log(
    `\n## S3 endpoint: through @aws-sdk/client-s3, one client per target, in this process (ops/s: ${runs} each; MB/s: median of ${settings.largeRuns})`,
  );
  console.log(
    `   ${"".padEnd(16)}${["nimbus", "s3rver", "stub"].map((name) => name.padStart(12)).join("")}${"nimbus÷stub".padStart(14)}   goal`,
  );
  for (const [index, { op, inFlight }] of rows.entries()) {
    const cells = [nimbus, s3rver, stub].map((target) => `${count(target.small[index]!)}/s`);
    const ratio = nimbus.small[index]! / stub.small[index]!;
    console.log(line(`${op.toUpperCase()} 1 KiB ×${inFlight}`, cells, ratio, `≥ 80% of stub${judge(ratio >= 0.8)}`));
  }
  for (const direction of ["put", "get"] as const) {
    const cells = [nimbus, s3rver, stub].map((target) => `${count(target[direction])} MB/s`);
    console.log(line(`${direction.toUpperCase()} ${large}`, cells, nimbus[direction] / stub[direction], ""));
  }
}
