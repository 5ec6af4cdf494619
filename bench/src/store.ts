/**
 * The store service issue's figures: PUT and GET ops/s of 1 KiB objects (one at a time
 * and 16 in flight) through `@aws-sdk/client-s3`, against the Nimbus store service with
 * durable writes (fsync of the blob, its folder and the index before every answer),
 * the same service without fsync, and the emulator's S3 endpoint (which does not fsync
 * either). All three run in this process, as the S3 bench's targets do, and take turns
 * within each row. The durable ÷ no-fsync ratio of the PUT rows is the cost of fsync.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { createEmulator } from "@nimbus/emulator";
import { startStoreService } from "@nimbus/store/service";
import { copyApp, formatCount as count, KiB, median, smallObjectRows, type TimedRuns, timedCount } from "./support.ts";

const bucket = "objects";
const smallSize = KiB;

interface Settings extends TimedRuns {
  /** Distinct keys the loops cycle through; gets read what the puts wrote. */
  keys: number;
}

const full: Settings = { keys: 1000, warmup: 100, seconds: 2, minCount: 200, runs: 3 };
const smoke: Settings = { keys: 30, warmup: 5, seconds: 0, minCount: 30, fixedCount: 30, runs: 1 };

const rows = smallObjectRows;
type Row = (typeof rows)[number];

interface Target {
  name: string;
  client: S3Client;
  close(): Promise<void>;
}

function clientFor(endpoint: string, accessKeyId: string, secretAccessKey: string): S3Client {
  return new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
  });
}

async function startService(durable: boolean): Promise<Target> {
  const dataDir = await mkdtemp(join(tmpdir(), "nimbus-bench-store-"));
  const key = { accessKeyId: "NIMBUSBENCH000000001", secretAccessKey: "bench-secret-bench-secret-bench-secret-0" };
  const service = await startStoreService(
    {
      hostname: "127.0.0.1",
      port: 0,
      dataDir,
      buckets: [{ name: bucket, bucket, notifications: [] }],
      keys: [{ ...key, buckets: [bucket] }],
      region: "us-east-1",
      durable,
    },
    () => {},
  );
  const client = clientFor(service.url, key.accessKeyId, key.secretAccessKey);
  return {
    name: durable ? "durable" : "no fsync",
    client,
    async close() {
      client.destroy();
      await service.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

async function startEmulator(): Promise<Target> {
  const app = await copyApp("buckets");
  const emu = await createEmulator({ root: app.dir, watch: false, logFormat: "silent" });
  const client = clientFor(emu.s3.endpoint, emu.s3.accessKeyId, emu.s3.secretAccessKey);
  return {
    name: "emulator",
    client,
    async close() {
      client.destroy();
      await emu.close();
      await app.remove();
    },
  };
}

/** `total` ops of `row`, `row.inFlight` at a time; answers ops/s. A failure names the target. */
async function runSmall(target: Target, row: Row, total: number, keys: number): Promise<number> {
  const body = Buffer.alloc(smallSize, 7);
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const Key = `small/${next++ % keys}`;
      if (row.op === "put") {
        await target.client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: body }));
      } else {
        const object = await target.client.send(new GetObjectCommand({ Bucket: bucket, Key }));
        const bytes = await object.Body!.transformToByteArray();
        if (bytes.byteLength !== smallSize) throw new Error(`get ${Key}: ${bytes.byteLength} bytes, not ${smallSize}`);
      }
    }
  };
  const started = performance.now();
  try {
    await Promise.all(Array.from({ length: row.inFlight }, lane));
  } catch (error) {
    throw new Error(`store bench against ${target.name}: ${(error as Error).message}`, { cause: error });
  }
  return total / ((performance.now() - started) / 1000);
}

/** ops/s per target and row, median of the runs; targets take turns, in a rotating order, run by run. */
async function measure(targets: Target[], settings: Settings): Promise<number[][]> {
  const samples = targets.map(() => rows.map((): number[] => []));
  for (const target of targets) await runSmall(target, { op: "put", inFlight: 16 }, settings.keys, settings.keys);
  for (const [rowIndex, row] of rows.entries()) {
    const counts: number[] = [];
    for (const target of targets)
      counts.push(timedCount(settings, await runSmall(target, row, settings.warmup, settings.keys)));
    for (let run = 0; run < settings.runs; run++) {
      for (let turn = 0; turn < targets.length; turn++) {
        const index = (turn + run) % targets.length;
        samples[index]![rowIndex]!.push(await runSmall(targets[index]!, row, counts[index]!, settings.keys));
      }
    }
  }
  return samples.map((perRow) => perRow.map(median));
}

export async function benchStore(options: { smoke: boolean }): Promise<void> {
  const settings = options.smoke ? smoke : full;
  const targets: Target[] = [];
  let figures: number[][];
  try {
    targets.push(await startService(true), await startService(false), await startEmulator());
    figures = await measure(targets, settings);
  } finally {
    for (const target of targets) await target.close();
  }
  const [durable, fast, emulator] = figures as [number[], number[], number[]];
  const runs = settings.runs > 1 ? `median of ${settings.runs} runs of ~${settings.seconds} s` : "1 run";
  console.log(`\n## Nimbus store service over S3: through @aws-sdk/client-s3, in this process (ops/s: ${runs} each)`);
  console.log(
    `   ${"".padEnd(16)}${["durable", "no fsync", "emulator"].map((name) => name.padStart(12)).join("")}${"durable÷no fsync".padStart(19)}`,
  );
  for (const [index, { op, inFlight }] of rows.entries()) {
    const cells = [durable, fast, emulator].map((target) => `${count(target[index]!)}/s`.padStart(12));
    const ratio = durable[index]! / fast[index]!;
    const cost = op === "put" ? `   fsync costs ${((1 - ratio) * 100).toFixed(0)}% of PUT throughput` : "";
    console.log(
      `   ${`${op.toUpperCase()} 1 KiB ×${inFlight}`.padEnd(16)}${cells.join("")}${`${(ratio * 100).toFixed(0)}%`.padStart(19)}${cost}`,
    );
  }
}
