export type {
  BucketClient,
  BucketConditions,
  BucketGetOptions,
  BucketListOptions,
  BucketListResult,
  BucketObject,
  BucketObjectInfo,
  BucketPresignOptions,
  BucketPutBody,
  BucketPutOptions,
  BucketRange,
} from "./bucket.ts";
export type { BusClient, BusEntry, BusEvent } from "./bus.ts";
export type { FunctionClient } from "./function.ts";
export {
  type ClientOf,
  defineHandler,
  type EnvOf,
  type FetchContext,
  type Handler,
  type InvocationContext,
  type ScheduledController,
} from "./handler.ts";
export type { Delay, Message, MessageBatch, QueueClient, QueueSendOptions } from "./queue.ts";
