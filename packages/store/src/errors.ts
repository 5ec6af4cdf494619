// The bucket client and the store fail with the same codes and messages: one helper, in runtime.
export { type BucketErrorCode, bucketError, showKey } from "@nimbus/runtime/target";
