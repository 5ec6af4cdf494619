export { App } from "./app/app.ts";
export { Construct } from "./app/construct.ts";
export { Bucket } from "./bucket/bucket.ts";
export { type BucketChangeFacts, type ChangeEvent, changeEvents } from "./bucket/notification-events.ts";
export {
  type BucketEvent,
  type BucketEventDetail,
  type BucketEvents,
  type BucketNotificationSpec,
  type BucketProps,
  type BucketSpec,
  bucketEventSource,
  bucketEvents,
  type NotifyOptions,
} from "./bucket/spec.ts";
export { Bus, type BusProps, type EventMap, type EventSchemas } from "./bus/bus.ts";
export { cycleBeforeEntering } from "./bus/forwarding.ts";
export { type BusSpec, busDefaults } from "./bus/spec.ts";
export { backoffDelay } from "./delivery/backoff.ts";
export {
  type Chain,
  chainStartedBy,
  deepestChain,
  deliveredChain,
  formatChain,
  isLoop,
  type LoopRoute,
  loopError,
  loopPath,
  newChainId,
  parseChain,
} from "./delivery/chain.ts";
export {
  type Decision,
  type DeliveryOutcome,
  type DeliveryPolicy,
  decideDelivery,
} from "./delivery/decide.ts";
export { failedDelivery, isRefusal, refusal } from "./delivery/refusal.ts";
export { type NatsConfigOptions, natsString, renderNatsConfig } from "./deploy/nats-config.ts";
export {
  type NatsPermissions,
  type NatsPermissionsOptions,
  type NatsUser,
  type NatsUsers,
  natsFunctionUser,
  natsInboxPrefix,
  natsPermissions,
} from "./deploy/nats-permissions.ts";
export { type StoreKey, type StoreSecret, storeBucketName, storeKeys } from "./deploy/store-access.ts";
export { type StoreBucket, type StoreNotification, storeBuckets } from "./deploy/store-buckets.ts";
export {
  type BusStreamNames,
  busNames,
  type DeliveryQueue,
  deliveryNames,
  deliveryQueues,
  type QueueStreamNames,
  queueNames,
  type ScheduleTickNames,
  type SubjectOptions,
  scheduleTickNames,
  scheduleTriggerSubject,
} from "./deploy/subjects.ts";
export {
  type BucketErrorCode,
  type BusErrorCode,
  type CliErrorCode,
  type DeployErrorCode,
  type EmulatorErrorCode,
  type ErrorCode,
  type ErrorCodeInfo,
  type ErrorKind,
  errorCodes,
  type FunctionErrorCode,
  type GraphErrorCode,
  httpStatus,
  isErrorCode,
  type QueueErrorCode,
  type ScheduleErrorCode,
} from "./errors/codes.ts";
export { formatIssue, GraphError, type GraphIssue } from "./errors/graph-error.ts";
export { NimbusError, type NimbusErrorOptions } from "./errors/nimbus-error.ts";
export { unknownResource } from "./errors/unknown-resource.ts";
export {
  type ConfigMap,
  type ConfigValue,
  type FunctionProps,
  FunctionResource,
  type Linkable,
  type LinkMap,
} from "./function/function.ts";
export { formatRoute, parseRoute, type Route, routeShape, routesClash } from "./function/routes.ts";
export {
  type FunctionSpec,
  functionDefaults,
  type HttpMethod,
  type Isolation,
  isolations,
  type LinkSpec,
  type RouteSpec,
} from "./function/spec.ts";
export { edgesOf } from "./graph/edges.ts";
export { resourcesOf } from "./graph/resources.ts";
export {
  type Edge,
  type EdgeKind,
  type Graph,
  graphSchema,
  type Resource,
  type ResourceOf,
  resourceSchema,
} from "./graph/schema.ts";
export {
  describeResource,
  graphShapeIssues,
  graphVersion,
  type ResourceKind,
  type ResourceRef,
  resourceId,
  resourceKinds,
} from "./graph/shape.ts";
export { serializeGraph, validateGraph } from "./graph/validate.ts";
export {
  bucketLimits,
  busLimits,
  busSettings,
  functionSettings,
  loopLimits,
  notificationLimits,
  queueLimits,
  queueSettings,
  type Setting,
  scheduleLimits,
} from "./limits.ts";
export { fnv1a } from "./naming/hash.ts";
export {
  type DeliveryRoute,
  deliveryRoute,
  type PhysicalNameOptions,
  type PhysicalTarget,
  physicalName,
} from "./naming/physical-name.ts";
export * from "./pattern/index.ts";
export { Queue, type QueueProps, type SubscribeOptions } from "./queue/queue.ts";
export { type QueueConsumerSpec, type QueueSpec, queueDefaults } from "./queue/spec.ts";
export { Rule, type RuleProps, type Target } from "./rule/rule.ts";
export type { RuleSpec } from "./rule/spec.ts";
export { scheduleExpressionOf } from "./schedule/expression.ts";
export * from "./schedule/index.ts";
export { Schedule, type ScheduleProps } from "./schedule/schedule.ts";
export type { ScheduleSpec } from "./schedule/spec.ts";
export { type Duration, formatDuration, parseDuration } from "./units/duration.ts";
export { formatSize, parseSize, type Size } from "./units/size.ts";
