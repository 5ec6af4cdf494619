/**
 * What a target (the emulator's worker, the deployed host) plugs its transports into:
 * the binding clients and the serving of invocations. Not for handler authors, who get
 * the clients in `env`.
 */

export { limitBody, tooLarge } from "./body-limit.ts";
export {
  type BucketBodySource,
  type BucketRecord,
  type BucketTransport,
  bucketClient,
  checkKey,
  checkRange,
  maxDeleteKeys,
  rangePastEnd,
} from "./bucket.ts";
export { type BucketErrorCode, bucketError, showKey } from "./bucket-error.ts";
export { type BusTransport, busClient } from "./bus.ts";
export { readNatsVariables } from "./host/nats-variables.ts";
export { type ConditionOutcome, checkConditions, etagHeader, unquoteEtag } from "./host/s3-conditions.ts";
export { InFlight, InFlightMirror } from "./in-flight.ts";
export {
  type ChainStorage,
  type FetchInvocationOptions,
  type FetchResult,
  type HandlerInvoker,
  handlerInvoker,
  type InvocationOptions,
  type RunHandlerName,
  type RunResult,
} from "./invoker.ts";
export { Limiter } from "./limiter.ts";
export type { LogEntry, LogLevel } from "./log-entry.ts";
export { type MessageOutcome, messageBatch, type QueueRunPayload } from "./message-batch.ts";
export { maxPresignSeconds, type PresignS3UrlOptions, presignS3Url } from "./presign.ts";
export { delayMs, type OutgoingMessage, type QueueTransport, queueClient } from "./queue.ts";
export { bodyCheck } from "./queue-schema.ts";
export {
  type CanonicalRequestInput,
  canonicalPath,
  canonicalRequest,
  credentialScope,
  formatAmzDate,
  parseAmzDate,
  parseQuery,
  type SigV4QueryParam,
  sigV4Algorithm,
  splitTarget,
  stringToSign,
} from "./sigv4.ts";
