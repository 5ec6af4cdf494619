import type { BucketEntry, BucketRegistry } from "../registry.ts";
import type { S3Request, S3Response } from "./request.ts";
import { S3Error } from "./s3-error.ts";
import { xmlDocument, xmlEscape } from "./xml.ts";

/** S3's naming rules for general-purpose buckets. */
const bucketName = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export function bucketNameProblem(name: string): string | undefined {
  if (!bucketName.test(name)) {
    return "Bucket names are 3 to 63 characters of lower-case letters, digits, dots and hyphens, starting and ending with a letter or digit.";
  }
  if (name.includes("..")) return "Bucket names cannot contain two dots in a row.";
  if (/^\d+\.\d+\.\d+\.\d+$/.test(name)) return "Bucket names cannot look like IP addresses.";
  return undefined;
}

export function noSuchBucket(name: string): S3Error {
  return new S3Error("NoSuchBucket", 404, "The specified bucket does not exist", { BucketName: name });
}

/** GET /: the buckets the key may use. */
export function listBuckets(registry: BucketRegistry, granted: (name: string) => boolean): S3Response {
  return {
    status: 200,
    body: xmlDocument("ListAllMyBucketsResult", {
      Owner: { ID: "nimbus", DisplayName: "nimbus" },
      Buckets: {
        Bucket: registry
          .all()
          .filter((entry) => granted(entry.name))
          .map((entry) => ({ Name: entry.name, CreationDate: new Date(entry.store.created) })),
      },
    }),
  };
}

/** PUT /bucket: a scratch bucket beside the app's, for tools and test suites that make their own. */
export function createBucket(request: S3Request, registry: BucketRegistry, log: (message: string) => void): S3Response {
  const name = request.bucket!;
  const problem = bucketNameProblem(name);
  if (problem)
    throw new S3Error("InvalidBucketName", 400, `The specified bucket is not valid. ${problem}`, { BucketName: name });
  if (registry.get(name)) {
    throw new S3Error(
      "BucketAlreadyOwnedByYou",
      409,
      "Your previous request to create the named bucket succeeded and you already own it.",
      {
        BucketName: name,
      },
    );
  }
  registry.create(name);
  log(`created scratch bucket ${name} over S3 (no function can link it; declare it in the app file for that)`);
  return { status: 200, headers: { location: `/${name}` } };
}

/** HEAD /bucket */
export function headBucket(bucket: BucketEntry, region: string): S3Response {
  return { status: 200, headers: { "x-amz-bucket-region": region, "x-nimbus-declared": String(bucket.declared) } };
}

/** GET /bucket?location */
export function bucketLocation(region: string): S3Response {
  // us-east-1 is answered as an empty constraint, as S3 does.
  const constraint = region === "us-east-1" ? "" : xmlEscape(region);
  return {
    status: 200,
    body: `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${constraint}</LocationConstraint>`,
  };
}

/** DELETE /bucket: only an empty scratch bucket; the app's buckets always exist. */
export function deleteBucket(
  bucket: BucketEntry,
  registry: BucketRegistry,
  log: (message: string) => void,
): S3Response {
  if (bucket.declared) {
    throw new S3Error(
      "AccessDenied",
      403,
      `Bucket "${bucket.name}" is declared in the app, so it always exists. Remove it from nimbus.app.ts to retire it.`,
    );
  }
  if (bucket.store.list({ limit: 1 }).objects.length > 0) {
    throw new S3Error("BucketNotEmpty", 409, "The bucket you tried to delete is not empty", {
      BucketName: bucket.name,
    });
  }
  registry.remove(bucket.name);
  log(`deleted scratch bucket ${bucket.name} over S3`);
  return { status: 204 };
}

/**
 * GET /bucket?versioning: buckets are never versioned, and S3 answers a bucket that never
 * was with an empty configuration (no `Status`), which tools read as "not enabled".
 */
export function bucketVersioning(): S3Response {
  return { status: 200, body: xmlDocument("VersioningConfiguration", {}) };
}
