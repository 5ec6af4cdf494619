import { describe, expect, test } from "vitest";
import { checkConditions, unquoteEtag } from "./conditions.ts";

const object = { etag: "abc", uploaded: Date.UTC(2030, 0, 1) };
const before = new Date(object.uploaded - 1);
const after = new Date(object.uploaded + 1);

describe("conditions", () => {
  test("checkConditions: no conditions, or empty ones, pass", () => {
    expect(checkConditions(object, undefined)).toBe("ok");
    expect(checkConditions(object, {})).toBe("ok");
    expect(checkConditions(undefined, undefined)).toBe("ok");
  });

  test("checkConditions: etagMatches (If-Match) needs an object whose ETag is listed", () => {
    for (const list of ["abc", '"abc"', '"x", "abc"', '"x",abc', " * ", "*"]) {
      expect(checkConditions(object, { etagMatches: list }), list).toBe("ok");
    }
    expect(checkConditions(object, { etagMatches: '"x"' })).toBe("precondition");
    expect(checkConditions(object, { etagMatches: "ab" })).toBe("precondition");
    expect(checkConditions(undefined, { etagMatches: "*" })).toBe("precondition");
    expect(checkConditions(undefined, { etagMatches: "abc" })).toBe("precondition");
  });

  test("checkConditions: etagDoesNotMatch (If-None-Match) is not-modified when the ETag is listed or * names an object", () => {
    for (const list of ["abc", '"abc"', 'W/"abc"', '"x", "abc"', "*"]) {
      expect(checkConditions(object, { etagDoesNotMatch: list }), list).toBe("not-modified");
    }
    expect(checkConditions(object, { etagDoesNotMatch: '"x", "y"' })).toBe("ok");
    expect(checkConditions(undefined, { etagDoesNotMatch: "*" })).toBe("ok");
    expect(checkConditions(undefined, { etagDoesNotMatch: "abc" })).toBe("ok");
  });

  test("checkConditions: uploadedBefore and uploadedAfter compare strictly with the upload time", () => {
    expect(checkConditions(object, { uploadedBefore: after })).toBe("ok");
    expect(checkConditions(object, { uploadedBefore: new Date(object.uploaded) })).toBe("precondition");
    expect(checkConditions(object, { uploadedBefore: before })).toBe("precondition");
    expect(checkConditions(object, { uploadedAfter: before })).toBe("ok");
    expect(checkConditions(object, { uploadedAfter: new Date(object.uploaded) })).toBe("not-modified");
    expect(checkConditions(object, { uploadedAfter: after })).toBe("not-modified");
  });

  test("checkConditions: date conditions on a missing object pass, as HTTP ignores them without a modification date", () => {
    expect(checkConditions(undefined, { uploadedBefore: before, uploadedAfter: after })).toBe("ok");
  });

  test("checkConditions: an ETag condition overrides its date condition (RFC 9110 §13.2.2)", () => {
    expect(checkConditions(object, { etagMatches: "abc", uploadedBefore: before })).toBe("ok");
    expect(checkConditions(object, { etagMatches: "x", uploadedBefore: after })).toBe("precondition");
    expect(checkConditions(object, { etagDoesNotMatch: "x", uploadedAfter: after })).toBe("ok");
    expect(checkConditions(object, { etagDoesNotMatch: "abc", uploadedAfter: before })).toBe("not-modified");
    // The date conditions still pair across: If-Match with If-Modified-Since.
    expect(checkConditions(object, { etagMatches: "abc", uploadedAfter: after })).toBe("not-modified");
    expect(checkConditions(object, { etagDoesNotMatch: "x", uploadedBefore: before })).toBe("precondition");
  });

  test("checkConditions: a failed precondition is reported before not-modified", () => {
    expect(checkConditions(object, { etagMatches: "x", etagDoesNotMatch: "abc" })).toBe("precondition");
    expect(checkConditions(object, { uploadedBefore: before, uploadedAfter: after })).toBe("precondition");
  });

  test("unquoteEtag: strips spaces, quotes and the weak marker", () => {
    expect(unquoteEtag(' "abc" ')).toBe("abc");
    expect(unquoteEtag('W/"abc"')).toBe("abc");
    expect(unquoteEtag("abc-3")).toBe("abc-3");
    expect(unquoteEtag('"')).toBe('"');
    expect(unquoteEtag('""')).toBe("");
  });
});
