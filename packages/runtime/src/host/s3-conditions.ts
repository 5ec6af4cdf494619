import type { BucketConditions } from "../bucket.ts";

/**
 * `ok`; `precondition` (HTTP 412: the ETag or date the caller required does not hold);
 * or `not-modified` (HTTP 304: the object is one the caller said it does not want).
 */
export type ConditionOutcome = "ok" | "precondition" | "not-modified";

/**
 * The conditions evaluated as every target's binding evaluates them (RFC 9110 §13.2.2:
 * an ETag condition decides over the date condition paired with it): stored strictly
 * before `uploadedBefore`, strictly after `uploadedAfter`. `current.uploaded` is the time
 * the store reports (`Last-Modified`, whole seconds), the one this transport hands out,
 * so `uploadedBefore: obj.uploaded` fails as in the emulator. The `If-*-Since` headers
 * sent along compare at whole seconds and never refuse what this accepts, so this check
 * decides. `current` is undefined when there is no object.
 */
export function checkConditions(
  current: { etag: string; uploaded: number } | undefined,
  conditions: BucketConditions | undefined,
): ConditionOutcome {
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
