export { type S3BucketTransport, type S3TransportOptions, s3Transport } from "./bucket.ts";
export { jetStreamBusTransport } from "./bus.ts";
export { type ProvisionReport, provisionNats } from "./provision.ts";
export {
  type Deliver,
  type DeliveryResult,
  JetStreamQueues,
  type JetStreamQueuesOptions,
  type Running,
} from "./queue.ts";
export {
  type DeadLetteredMessage,
  fillingBatch,
  QueueAdmin,
  type QueueAdminOptions,
  type QueueStats,
} from "./queue-admin.ts";
