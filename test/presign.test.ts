// Presigned URLs end to end: a function's bucket binding presigns, and a plain HTTP client
// uses the URL against the emulator's S3 endpoint, which checks it as S3 does (SigV4 query
// authentication, S3's errors) with the emulator's manual clock.
import { createHash } from "node:crypto";
import type { BucketEventDetail, NimbusEvent } from "@nimbus/core";
import type { Emulator } from "@nimbus/emulator";
import { describe, expect, it } from "vitest";
import { emulatorSuite } from "./support/suite.ts";

let emu: Emulator;
emulatorSuite("presign", {
  started: (started) => {
    emu = started;
  },
});

const md5 = (data: string) => createHash("md5").update(data).digest("hex");

/** Asks the `sharer` function, through its bucket binding, for a presigned URL. */
async function presign(
  key: string,
  method: "GET" | "PUT",
  expiresIn: string | number = "1m",
): Promise<{ url?: string; error?: { code: string; message: string } }> {
  const response = await emu.fetch("/presign", { method: "POST", body: JSON.stringify({ key, method, expiresIn }) });
  return (await response.json()) as { url?: string; error?: { code: string; message: string } };
}

async function urlFor(key: string, method: "GET" | "PUT", expiresIn?: string | number): Promise<string> {
  const { url, error } = await presign(key, method, expiresIn);
  expect(error).toBeUndefined();
  return url!;
}

/** The `<Code>` and `<Message>` of an S3 error response. */
async function s3Error(response: Response): Promise<{ status: number; code?: string; message?: string }> {
  const xml = await response.text();
  return {
    status: response.status,
    code: /<Code>([^<]*)<\/Code>/.exec(xml)?.[1],
    message: /<Message>([^<]*)<\/Message>/.exec(xml)?.[1],
  };
}

/** The bucket events `recorder` got, once the emulator is idle. */
async function events(): Promise<NimbusEvent<BucketEventDetail>[]> {
  await emu.idle();
  const stored = await emu.bucket("results").get("log/seen");
  return stored ? stored.json() : [];
}

describe("presigned URLs", () => {
  it("presign: a function's URL is an S3 SigV4 presigned URL, path-style on the emulator's S3 endpoint", async () => {
    const url = new URL(await urlFor("reports/q1 ü.csv", "GET", "15m"));
    expect(url.origin).toBe(emu.s3.endpoint);
    expect(url.pathname).toBe("/uploads/reports/q1%20%C3%BC.csv");
    expect(url.searchParams.get("X-Amz-Algorithm")).toBe("AWS4-HMAC-SHA256");
    expect(url.searchParams.get("X-Amz-Credential")).toMatch(
      new RegExp(`^${emu.s3.accessKeyId}/\\d{8}/${emu.s3.region}/s3/aws4_request$`),
    );
    expect(url.searchParams.get("X-Amz-Expires")).toBe("900");
    expect(url.searchParams.get("X-Amz-SignedHeaders")).toBe("host");
    expect(url.searchParams.get("X-Amz-Signature")).toMatch(/^[0-9a-f]{64}$/);
  });

  it("presign: a PUT URL takes an upload from plain fetch; the object is readable and notified (§notifications/3)", async () => {
    const url = await urlFor("inbox/upload.json", "PUT");
    const response = await fetch(url, {
      method: "PUT",
      body: '{"ok":true}',
      headers: { "content-type": "application/json" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("etag")).toBe(`"${md5('{"ok":true}')}"`);

    const object = await emu.bucket("uploads").get("inbox/upload.json");
    expect(object?.contentType).toBe("application/json");
    expect(await object?.text()).toBe('{"ok":true}');
    const got = await events();
    expect(got.map((event) => [event["detail-type"], event.detail.object.key, event.detail.reason])).toEqual([
      ["Object Created", "inbox/upload.json", "PutObject"],
    ]);
    expect(got[0]?.detail.object).toMatchObject({ size: 11, etag: md5('{"ok":true}') });
  });

  it("presign: a GET URL serves the object, ranges too, until the emulator's clock passes its expiry", async () => {
    await emu.bucket("uploads").put("shared/report.csv", "a,b\n1,2\n", { contentType: "text/csv" });
    const url = await urlFor("shared/report.csv", "GET", "10m");

    const response = await fetch(url);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv");
    expect(response.headers.get("etag")).toBe(`"${md5("a,b\n1,2\n")}"`);
    expect(await response.text()).toBe("a,b\n1,2\n");
    const ranged = await fetch(url, { headers: { range: "bytes=4-" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe("bytes 4-7/8");
    expect(await ranged.text()).toBe("1,2\n");

    // X-Amz-Date has whole seconds, so the URL lives 10 minutes from the second it was signed in.
    await emu.clock.advance("599s");
    expect((await fetch(url)).status).toBe(200);
    await emu.clock.advance("2s");
    expect(await s3Error(await fetch(url))).toEqual({
      status: 403,
      code: "AccessDenied",
      message: "Request has expired",
    });
  });

  it("presign: a GET URL for a key with no object answers S3's NoSuchKey", async () => {
    expect(await s3Error(await fetch(await urlFor("nothing/here", "GET")))).toMatchObject({
      status: 404,
      code: "NoSuchKey",
    });
  });

  it("presign: a URL with its key or bucket changed, or used with another method, is refused as S3 refuses it", async () => {
    await emu.bucket("uploads").put("guarded", "secret");
    const get = await urlFor("guarded", "GET", "1h");
    const put = await urlFor("guarded", "PUT", "1h");
    const refusals = [
      await fetch(get.replace("/uploads/guarded?", "/uploads/other?")),
      await fetch(get.replace("/uploads/guarded?", "/results/guarded?")),
      await fetch(get.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200")),
      await fetch(get, { method: "PUT", body: "overwritten" }),
      await fetch(get, { method: "DELETE" }),
      await fetch(put),
    ];
    for (const response of refusals) {
      expect(await s3Error(response), response.url).toMatchObject({ status: 403, code: "SignatureDoesNotMatch" });
    }
    expect(await (await emu.bucket("uploads").get("guarded"))?.text()).toBe("secret");
  });

  it("presign: a PUT with unsigned x-amz-* headers is refused as S3 refuses it; nothing is stored or notified", async () => {
    const url = await urlFor("meta/upload.txt", "PUT");
    const response = await fetch(url, { method: "PUT", body: "x", headers: { "x-amz-meta-author": "ada" } });
    expect(await s3Error(response)).toEqual({
      status: 403,
      code: "AccessDenied",
      message: "There were headers present in the request which were not signed",
    });
    expect(await emu.bucket("uploads").head("meta/upload.txt")).toBeNull();
    expect(await events()).toEqual([]);
  });

  it("presign: an expiry over 7 days or under a second fails with NIMBUS_BUCKET_ARGUMENT naming the bucket and the limit", async () => {
    for (const expiresIn of ["8 days", 604_801, 0, "soon"]) {
      const { url, error } = await presign("k", "GET", expiresIn);
      expect(url, String(expiresIn)).toBeUndefined();
      expect(error?.code).toBe("NIMBUS_BUCKET_ARGUMENT");
      expect(error?.message).toContain(
        'bucket "uploads", key "k": presign expiresIn must be a duration from 1 second to 7 days',
      );
    }
    expect(new URL(await urlFor("k", "GET", "7 days")).searchParams.get("X-Amz-Expires")).toBe("604800");
  });

  it("emu.bucket: presign gives the same kind of URL to tests", async () => {
    const url = await emu.bucket("uploads").presign("from/test.txt", { method: "PUT", expiresIn: 30 });
    expect(new URL(url).origin).toBe(emu.s3.endpoint);
    expect((await fetch(url, { method: "PUT", body: "from the test" })).status).toBe(200);
    expect(await (await emu.bucket("uploads").get("from/test.txt"))?.text()).toBe("from the test");
  });
});
