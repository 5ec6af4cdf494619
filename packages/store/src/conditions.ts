/**
 * Conditional reads and writes, evaluated as HTTP does (RFC 9110 §13.2.2): an ETag
 * condition, when given, decides over the date condition paired with it.
 */
export interface Conditions {
  /** Proceed only if the object exists and its ETag is one of these (If-Match). */
  etagMatches?: string;
  /** Proceed only if the object's ETag is none of these; `"*"`: only if there is no object (If-None-Match). */
  etagDoesNotMatch?: string;
  /** Proceed only if the object was stored before this instant (If-Unmodified-Since). */
  uploadedBefore?: Date;
  /** Proceed only if the object was stored after this instant (If-Modified-Since). */
  uploadedAfter?: Date;
}

/**
 * `ok`; `precondition` (HTTP 412: If-Match or If-Unmodified-Since failed); or
 * `not-modified` (HTTP 304 for reads: If-None-Match or If-Modified-Since failed).
 */
export type ConditionResult = "ok" | "precondition" | "not-modified";

export function checkConditions(
  current: { etag: string; uploaded: number } | undefined,
  conditions: Conditions | undefined,
): ConditionResult {
  if (!conditions) return "ok";
  const { etagMatches, etagDoesNotMatch, uploadedBefore, uploadedAfter } = conditions;
  if (etagMatches !== undefined) {
    if (!current || !etagListHas(etagMatches, current.etag)) return "precondition";
  } else if (uploadedBefore && current && !(current.uploaded < uploadedBefore.getTime())) {
    return "precondition";
  }
  if (etagDoesNotMatch !== undefined) {
    if (current && etagListHas(etagDoesNotMatch, current.etag)) return "not-modified";
  } else if (uploadedAfter && current && !(current.uploaded > uploadedAfter.getTime())) {
    return "not-modified";
  }
  return "ok";
}

/** Whether a header-style list (`"a", "b"`, `W/"c"`, `*`, or a bare ETag) names `etag`. */
function etagListHas(list: string, etag: string): boolean {
  return list.split(",").some((item) => {
    const tag = unquoteEtag(item);
    return tag === "*" || tag === etag;
  });
}

export function unquoteEtag(value: string): string {
  let tag = value.trim();
  if (tag.startsWith("W/")) tag = tag.slice(2);
  if (tag.length >= 2 && tag.startsWith('"') && tag.endsWith('"')) tag = tag.slice(1, -1);
  return tag;
}
