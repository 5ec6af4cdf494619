import { presignS3Url } from "@nimbus/runtime/target";
import { keyBytes, type S3Credentials } from "@nimbus/store";
import { z } from "zod";

/** A worker's `presign` call, checked since a worker can forge it. */
export const presignRequestSchema = z.strictObject({
  key: z.string(),
  method: z.enum(["GET", "PUT"]),
  expiresIn: z.union([z.string(), z.number()]),
});
export type PresignRequest = z.infer<typeof presignRequestSchema>;

/**
 * A SigV4 presigned URL for one key on the emulator's S3 endpoint, signed with its S3
 * credentials at the emulator's clock, exactly as a deployed S3 store's would be: the
 * endpoint serves it with S3's checks, errors and notifications. Throws
 * `NIMBUS_BUCKET_KEY` for a key S3 would refuse and `NIMBUS_BUCKET_ARGUMENT` for an
 * expiry outside 1 second to 7 days.
 */
export function presignUrl(options: {
  /** The S3 endpoint's URL, `http://127.0.0.1:<port>`. */
  endpoint: string;
  credentials: S3Credentials;
  bucket: string;
  request: PresignRequest;
  now: number;
}): Promise<string> {
  const { bucket, request } = options;
  keyBytes(bucket, request.key);
  return presignS3Url({
    endpoint: options.endpoint,
    bucket,
    key: request.key,
    method: request.method,
    expiresIn: request.expiresIn,
    credentials: options.credentials,
    region: options.credentials.region,
    now: options.now,
  });
}
