// The Nimbus store: the bucket store, its S3 endpoint and its notification outbox. The
// emulator serves them in its own process; `@nimbus/store/service` (`service/main.ts`
// runs it) serves them as the deployed store service.
export { keyBytes } from "./keys.ts";
export { bucketDir } from "./paths.ts";
export { type BucketEntry, BucketRegistry } from "./registry.ts";
export { type S3AccessKey, S3Endpoint, type S3EndpointOptions } from "./s3/server.ts";
export type { S3Credentials } from "./s3/sigv4.ts";
export { openDatabase, transactions } from "./sqlite.ts";
export {
  type BucketChange,
  BucketStore,
  type GetOptions,
  type GetResult,
  type ListOptions,
  type ListResult,
  type ObjectRecord,
  type PutOptions,
} from "./store.ts";
