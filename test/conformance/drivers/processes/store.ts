// The object store of the processes target. The seam is `startStore()`: the deployed
// target's store is the Nimbus store service, which is being extracted into
// packages/store; until it exists this starts s3rver (an S3 fake from npm) as the interim
// S3 server, in the test process, on a folder that survives restart() and kill().
// s3rver's differences from S3 that the hosts must live with are listed in
// test/host-bucket.test.ts (it ignores conditional-write headers, checks no signatures).
import { mkdir } from "node:fs/promises";
import { CreateBucketCommand, DeleteObjectsCommand, ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";

/** A running object store with an S3 endpoint on 127.0.0.1. */
export interface Store {
  readonly endpoint: string;
  readonly region: string;
  readonly credentials: { accessKeyId: string; secretAccessKey: string };
  /** How the hosts' S3 transport must make conditional writes on this store. */
  readonly conditionalWrites: "store" | "check-first";
  /** Creates each physical bucket that does not exist yet. */
  ensureBuckets(names: readonly string[]): Promise<void>;
  /** Deletes every object of each bucket. */
  empty(names: readonly string[]): Promise<void>;
  /** Stops the store and starts it again on the same port and folder. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

// s3rver's fixed credentials: it checks the access key id only.
const credentials = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };
const region = "us-east-1";

/** Starts the store on `directory` (kept across restarts; the caller removes it). */
export async function startStore(directory: string): Promise<Store> {
  await mkdir(directory, { recursive: true });
  let port = 0;
  let server: S3rver | undefined;
  const start = async () => {
    server = new S3rver({ port, address: "127.0.0.1", silent: true, directory });
    ({ port } = await server.run());
  };
  await start();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({ endpoint, region, credentials, forcePathStyle: true });

  return {
    endpoint,
    region,
    credentials,
    conditionalWrites: "check-first",
    async ensureBuckets(names) {
      for (const name of names) {
        try {
          await client.send(new CreateBucketCommand({ Bucket: name }));
        } catch (error) {
          const code = (error as { name?: string }).name;
          if (code !== "BucketAlreadyOwnedByYou" && code !== "BucketAlreadyExists") throw error;
        }
      }
    },
    async empty(names) {
      for (const name of names) {
        for (;;) {
          const page = await client.send(new ListObjectsV2Command({ Bucket: name, MaxKeys: 1000 }));
          const keys = (page.Contents ?? []).map((object) => ({ Key: object.Key! }));
          if (keys.length === 0) break;
          await client.send(new DeleteObjectsCommand({ Bucket: name, Delete: { Objects: keys, Quiet: true } }));
        }
      }
    },
    async restart() {
      await server?.close();
      await start();
    },
    async stop() {
      client.destroy();
      await server?.close();
      server = undefined;
    },
  };
}
