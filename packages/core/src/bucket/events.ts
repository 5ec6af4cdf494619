// What bucket notifications put on a bus, without zod: the host's notification relay and
// bindings read it (see graph/shape.ts for why the deployed host never loads zod).

export const bucketEvents = ["created", "deleted"] as const;
export type BucketEvent = (typeof bucketEvents)[number];

/** `source` of the events bucket notifications put on a bus. */
export const bucketEventSource = "nimbus.bucket";

/**
 * The `detail` of a bucket notification's event, shaped as S3's EventBridge events so
 * AWS-style patterns carry over: `detail-type` is `"Object Created"` or `"Object Deleted"`.
 * For a deletion, `size` and `etag` are the deleted object's.
 */
export interface BucketEventDetail {
  bucket: { name: string };
  object: { key: string; size: number; etag: string };
  /** The S3 operation that made the change. */
  reason: "PutObject" | "CopyObject" | "CompleteMultipartUpload" | "DeleteObject";
}

/** The detail-types of bucket notifications, each with its detail: add them to a bus's event map. */
export interface BucketEvents {
  "Object Created": BucketEventDetail;
  "Object Deleted": BucketEventDetail;
}
