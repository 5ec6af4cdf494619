// The deployed store service: the bucket store and its S3 endpoint behind NATS-fed
// notifications. A subpath of its own, so that the emulator, which imports the package's
// index, never loads the NATS client.
export { readStoreConfig, type StoreServiceConfig, storeVariables } from "./config.ts";
export { type StoreLog, type StoreService, startStoreService } from "./service.ts";
