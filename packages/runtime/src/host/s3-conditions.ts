import type { BucketConditions } from "../bucket.ts";

/**
 * `ok`; `precondition` (HTTP 412: the ETag or date the caller required does not hold);
 * or `not-modified` (HTTP 304: the object is one the caller said it does not want).
 */
export type ConditionOutcome = "ok" | "precondition" | "not-modified";

/**
 * The conditions evaluated as an S3 store evaluates their headers (RFC 9110 §13.2.2: an
 * ETag condition decides over the date condition paired with it). Dates compare at whole
 * seconds, as `Last-Modified` and the `If-*-Since` headers carry them, so this check and
 * the store's own never disagree. `current` is undefined when there is no object.
 */
export function checkConditions(
  current: { etag: string; uploaded: number } | undefined,
  conditions: BucketConditions | undefined,
): ConditionOutcome {
  if (!conditions) return "ok";
  const { etagMatches, etagDoesNotMatch, uploadedBefore, uploadedAfter } = conditions;
  if (etagMatches !== undefined) {
    if (!current || !etagListHas(etagMatches, current.etag)) return "precondition";
  } else if (uploadedBefore && current && seconds(current.uploaded) > seconds(uploadedBefore.getTime())) {
    return "precondition";
  }
  if (etagDoesNotMatch !== undefined) {
    if (current && etagListHas(etagDoesNotMatch, current.etag)) return "not-modified";
  } else if (uploadedAfter && current && seconds(current.uploaded) <= seconds(uploadedAfter.getTime())) {
    return "not-modified";
  }
  return "ok";
}

/** An ETag list as a header carries it: each tag quoted, `*` as it is. */
export function etagHeader(list: string): string {
  return list
    .split(",")
    .map((item) => {
      const tag = unquoteEtag(item);
      return tag === "*" ? "*" : `"${tag}"`;
    })
    .join(", ");
}

/** An ETag without its quotes (and without a weak `W/` mark). */
export function unquoteEtag(value: string): string {
  let tag = value.trim();
  if (tag.startsWith("W/")) tag = tag.slice(2);
  if (tag.length >= 2 && tag.startsWith('"') && tag.endsWith('"')) tag = tag.slice(1, -1);
  return tag;
}

function etagListHas(list: string, etag: string): boolean {
  return list.split(",").some((item) => {
    const tag = unquoteEtag(item);
    return tag === "*" || tag === etag;
  });
}

function seconds(ms: number): number {
  return Math.floor(ms / 1000);
}
