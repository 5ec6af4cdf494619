import { NimbusError } from "@nimbus/core";
import { describe, expect, test } from "vitest";
import { type PresignS3UrlOptions, presignS3Url } from "./presign.ts";

const at = Date.UTC(2026, 2, 14, 9, 26, 53);
const options: PresignS3UrlOptions = {
  endpoint: "http://127.0.0.1:4569",
  bucket: "uploads",
  key: "inbox/report.csv",
  method: "GET",
  expiresIn: 60,
  credentials: { accessKeyId: "NIMBUSLOCALKEY00001", secretAccessKey: "secret" },
  region: "us-east-1",
  now: at,
};

async function failure(promise: Promise<unknown>): Promise<NimbusError> {
  try {
    await promise;
  } catch (error) {
    if (NimbusError.is(error)) return error;
    throw error;
  }
  throw new Error("expected presignS3Url to fail");
}

describe("presignS3Url", () => {
  test("presignS3Url: a path-style URL under the endpoint with S3's query-string authentication", async () => {
    const url = new URL(await presignS3Url(options));
    expect(url.origin).toBe("http://127.0.0.1:4569");
    expect(url.pathname).toBe("/uploads/inbox/report.csv");
    expect(Object.fromEntries(url.searchParams)).toEqual({
      "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
      "X-Amz-Content-Sha256": "UNSIGNED-PAYLOAD",
      "X-Amz-Credential": "NIMBUSLOCALKEY00001/20260314/us-east-1/s3/aws4_request",
      "X-Amz-Date": "20260314T092653Z",
      "X-Amz-Expires": "60",
      "X-Amz-SignedHeaders": "host",
      "X-Amz-Signature": expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  test("presignS3Url: the key's bytes are encoded once with '/' kept, under an endpoint's own path", async () => {
    const url = await presignS3Url({ ...options, endpoint: "https://store.example/s3/", key: "a b/ü+%.txt" });
    expect(url.startsWith("https://store.example/s3/uploads/a%20b/%C3%BC%2B%25.txt?X-Amz-Algorithm=")).toBe(true);
  });

  test("presignS3Url: the signature covers the method, key, expiry, time and secret", async () => {
    const signature = async (changes: Partial<PresignS3UrlOptions>) =>
      new URL(await presignS3Url({ ...options, ...changes })).searchParams.get("X-Amz-Signature");
    const base = await signature({});
    expect(await signature({})).toBe(base);
    for (const changes of [
      { method: "PUT" as const },
      { key: "inbox/other.csv" },
      { expiresIn: 61 },
      { now: at + 1000 },
      { credentials: { ...options.credentials, secretAccessKey: "other" } },
      { region: "eu-west-3" },
    ]) {
      expect(await signature(changes), JSON.stringify(changes)).not.toBe(base);
    }
  });

  test("presignS3Url: a session token is sent and signed as X-Amz-Security-Token", async () => {
    const url = new URL(
      await presignS3Url({ ...options, credentials: { ...options.credentials, sessionToken: "token/with+chars=" } }),
    );
    expect(url.searchParams.get("X-Amz-Security-Token")).toBe("token/with+chars=");
    expect(url.search).toContain("X-Amz-Security-Token=token%2Fwith%2Bchars%3D&X-Amz-SignedHeaders=host");
  });

  test("presignS3Url: expiresIn is a duration string or seconds, sent as whole seconds", async () => {
    const expires = async (expiresIn: string | number) =>
      new URL(await presignS3Url({ ...options, expiresIn })).searchParams.get("X-Amz-Expires");
    expect(await expires("15m")).toBe("900");
    expect(await expires("7 days")).toBe("604800");
    expect(await expires(604_800)).toBe("604800");
    expect(await expires(1.5)).toBe("1");
    expect(await expires("1s")).toBe("1");
  });

  test("presignS3Url: an expiry over 7 days or under a second fails with NIMBUS_BUCKET_ARGUMENT naming the bucket and the limit", async () => {
    for (const expiresIn of ["8 days", 604_801, 0, 0.5, "500ms", "soon", -60, Number.NaN]) {
      const error = await failure(presignS3Url({ ...options, expiresIn }));
      expect(error.code, String(expiresIn)).toBe("NIMBUS_BUCKET_ARGUMENT");
      expect(error.message).toContain('bucket "uploads", key "inbox/report.csv"');
      expect(error.message).toContain(
        "presign expiresIn must be a duration from 1 second to 7 days (S3's limit, 604800 seconds)",
      );
    }
  });
});
