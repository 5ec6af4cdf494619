import { createHash, createHmac } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { Sha256 } from "@aws-crypto/sha256-js";
import {
  CreateMultipartUploadCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { presignS3Url } from "@nimbus/runtime/target";
import { SignatureV4 } from "@smithy/signature-v4";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { decodeAwsChunked } from "./aws-chunked.ts";
import { requestChecksum } from "./checksums.ts";
import { isS3Error, S3Error, s3ErrorXml, xmlEscape } from "./s3-error.ts";
import { assertPayloadHash, type S3Credentials, type SignedRequest, verifySigV4 } from "./sigv4.ts";

const credentials: S3Credentials = {
  accessKeyId: "NIMBUSLOCALKEY00001",
  secretAccessKey: "nimbus/Secret+Key=local0123456789abcdefgh",
  region: "eu-west-3",
};
const host = "127.0.0.1:4566";
const signedAt = new Date(Date.UTC(2026, 2, 14, 9, 26, 53));
const at = signedAt.getTime();
const minute = 60_000;

/** A request as the SDK's HttpRequest holds it, before signing. */
interface Shape {
  method?: string;
  /** Already encoded, as the S3 client builds it. */
  path: string;
  query?: Record<string, string | string[]>;
  headers?: Record<string, string>;
  body?: string;
}

interface SignOptions {
  accessKeyId?: string;
  secretAccessKey?: string;
  region?: string;
  date?: Date;
}

/** A signer configured as @aws-sdk/client-s3 configures its own: S3 paths are not escaped again. */
function signer(options: SignOptions = {}): SignatureV4 {
  return new SignatureV4({
    credentials: {
      accessKeyId: options.accessKeyId ?? credentials.accessKeyId,
      secretAccessKey: options.secretAccessKey ?? credentials.secretAccessKey,
    },
    region: options.region ?? credentials.region,
    service: "s3",
    sha256: Sha256,
    uriEscapePath: false,
  });
}

function httpRequest(shape: Shape) {
  return {
    method: shape.method ?? "GET",
    protocol: "http:",
    hostname: "127.0.0.1",
    port: 4566,
    path: shape.path,
    query: shape.query ?? {},
    headers: { host, ...shape.headers },
    body: shape.body,
  };
}

/** The S3 client's encoding of a key: every byte but A-Za-z0-9-._~ escaped, "/" kept. */
function encodeKey(key: string): string {
  return key.split("/").map(escapeUri).join("/");
}

function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The query string as the SDK's HTTP handler writes it. */
function queryString(query: Record<string, string | string[]>): string {
  const parts: string[] = [];
  for (const [key, value] of Object.entries(query)) {
    for (const v of Array.isArray(value) ? value : [value]) parts.push(`${escapeUri(key)}=${escapeUri(v)}`);
  }
  return parts.join("&");
}

function received(signed: {
  method: string;
  path: string;
  query?: unknown;
  headers: Record<string, string>;
}): SignedRequest {
  const query = queryString((signed.query ?? {}) as Record<string, string | string[]>);
  return {
    method: signed.method,
    url: query === "" ? signed.path : `${signed.path}?${query}`,
    headers: new Headers(signed.headers),
  };
}

async function sign(shape: Shape, options: SignOptions = {}): Promise<SignedRequest> {
  const request = httpRequest(shape);
  if (!("x-amz-content-sha256" in request.headers)) {
    (request.headers as Record<string, string>)["x-amz-content-sha256"] =
      shape.body === undefined
        ? "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        : await hashHex(shape.body);
  }
  const signed = await signer(options).sign(request, { signingDate: options.date ?? signedAt });
  return received(signed);
}

/** A presigned URL as @aws-sdk/s3-request-presigner makes it. */
async function presign(shape: Shape, expiresIn: number, options: SignOptions = {}): Promise<SignedRequest> {
  const request = httpRequest(shape);
  (request.headers as Record<string, string>)["X-Amz-Content-Sha256"] = "UNSIGNED-PAYLOAD";
  const signed = await signer(options).presign(request, {
    signingDate: options.date ?? signedAt,
    expiresIn,
    unsignableHeaders: new Set(["content-type"]),
  });
  return received(signed);
}

async function hashHex(body: string): Promise<string> {
  const hash = new Sha256();
  hash.update(body);
  return Buffer.from(await hash.digest()).toString("hex");
}

function rejection(action: () => unknown): S3Error {
  try {
    action();
  } catch (error) {
    if (isS3Error(error)) return error;
    throw error;
  }
  throw new Error("expected the call to throw");
}

function withUrl(request: SignedRequest, url: string): SignedRequest {
  return { ...request, url };
}

function withHeader(request: SignedRequest, name: string, value: string | null): SignedRequest {
  const headers = new Headers(request.headers);
  if (value === null) headers.delete(name);
  else headers.set(name, value);
  return { ...request, headers };
}

describe("sigv4", () => {
  test("verifySigV4: accepts a GET signed as the S3 client signs it", async () => {
    const request = await sign({ path: "/photos/cat.jpg", query: { "x-id": "GetObject" } });
    const verified = verifySigV4(request, credentials, at);
    expect(verified).toMatchObject({
      accessKeyId: credentials.accessKeyId,
      payload: { kind: "sha256", hash: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
      scope: "20260314/eu-west-3/s3/aws4_request",
      amzDate: "20260314T092653Z",
      region: "eu-west-3",
      presigned: false,
    });
    expect(request.headers.get("authorization")).toContain(`Signature=${verified.seedSignature}`);
    expect(verified.signingKey).toBeInstanceOf(Buffer);
  });

  test("verifySigV4: accepts a PUT whose x-amz-content-sha256 is the body's hash, and binds that hash", async () => {
    const request = await sign({
      method: "PUT",
      path: "/photos/notes.txt",
      headers: { "content-type": "text/plain", "content-length": "5", "x-amz-meta-author": "  Ada   Lovelace " },
      body: "hello",
    });
    const verified = verifySigV4(request, credentials, at);
    expect(verified.payload).toEqual({ kind: "sha256", hash: await hashHex("hello") });
  });

  test("verifySigV4: checks AWS's published streaming upload example and yields its seed signature", () => {
    const request: SignedRequest = {
      method: "PUT",
      url: "/examplebucket/chunkObject.txt",
      headers: new Headers({
        host: "s3.amazonaws.com",
        "x-amz-date": "20130524T000000Z",
        "x-amz-storage-class": "REDUCED_REDUNDANCY",
        authorization:
          "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "content-encoding": "aws-chunked",
        "x-amz-decoded-content-length": "66560",
        "content-length": "66824",
      }),
    };
    const example = {
      accessKeyId: "AKIAIOSFODNN7EXAMPLE",
      secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    };
    const verified = verifySigV4(request, { ...example, region: "us-east-1" }, Date.UTC(2013, 4, 24));
    expect(verified.payload).toEqual({ kind: "streaming-signed", trailer: false });
    expect(verified.seedSignature).toBe("4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
    expect(verified.scope).toBe("20130524/us-east-1/s3/aws4_request");
  });

  test("verifySigV4: accepts a presigned GET URL made as the S3 presigner makes it", async () => {
    const request = await presign({ path: "/photos/cat.jpg", query: { "x-id": "GetObject" } }, 900);
    expect(request.url).toContain("X-Amz-Signature=");
    expect(request.url).toContain("X-Amz-Content-Sha256=UNSIGNED-PAYLOAD");
    const verified = verifySigV4(request, credentials, at + 899_000);
    expect(verified).toMatchObject({ payload: { kind: "unsigned" }, presigned: true, amzDate: "20260314T092653Z" });
  });

  test("verifySigV4: a presigned PUT may be sent with a content-type, which the presigner leaves unsigned", async () => {
    const url = await presign({ method: "PUT", path: "/photos/up.txt", headers: { "content-type": "text/plain" } }, 60);
    const sent = withHeader(withHeader(url, "content-type", "application/json"), "content-length", "2");
    expect(verifySigV4(sent, credentials, at).presigned).toBe(true);
  });

  test("verifySigV4: a presigned URL without X-Amz-Content-Sha256 is bound to UNSIGNED-PAYLOAD, as botocore's", async () => {
    const request = httpRequest({ path: "/photos/cat.jpg" });
    const signed = await signer().presign(request, { signingDate: signedAt, expiresIn: 60 });
    // SignatureV4 on its own hashes the (absent) body; S3 and botocore use UNSIGNED-PAYLOAD.
    const error = rejection(() => verifySigV4(received(signed), credentials, at));
    expect(error.code).toBe("SignatureDoesNotMatch");
    expect(error.fields.CanonicalRequest?.endsWith("\nUNSIGNED-PAYLOAD")).toBe(true);
  });

  test("verifySigV4: a tampered path fails with SignatureDoesNotMatch carrying S3's diagnostic fields", async () => {
    const request = await sign({ path: "/photos/cat.jpg" });
    const error = rejection(() => verifySigV4(withUrl(request, "/photos/dog.jpg"), credentials, at));
    expect(error).toBeInstanceOf(S3Error);
    expect(error.code).toBe("SignatureDoesNotMatch");
    expect(error.status).toBe(403);
    expect(error.message).toBe(
      "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    );
    expect(Object.keys(error.fields)).toEqual([
      "AWSAccessKeyId",
      "StringToSign",
      "SignatureProvided",
      "StringToSignBytes",
      "CanonicalRequest",
      "CanonicalRequestBytes",
    ]);
    expect(error.fields.CanonicalRequest).toMatch(/^GET\n\/photos\/dog\.jpg\n\nhost:127\.0\.0\.1:4566\n/);
    expect(error.fields.StringToSign).toMatch(
      /^AWS4-HMAC-SHA256\n20260314T092653Z\n20260314\/eu-west-3\/s3\/aws4_request\n[0-9a-f]{64}$/,
    );
    expect(error.fields.StringToSignBytes?.startsWith("41 57 53 34 2d")).toBe(true);
    expect(error.fields.SignatureProvided).toMatch(/^[0-9a-f]{64}$/);
    const xml = s3ErrorXml(error, { resource: "/photos/dog.jpg", requestId: "R1" });
    expect(xml).toContain("<CanonicalRequest>GET\n/photos/dog.jpg\n");
  });

  test("verifySigV4: a tampered query, signed header or body hash fails with SignatureDoesNotMatch", async () => {
    const request = await sign({
      method: "PUT",
      path: "/photos/cat.jpg",
      query: { partNumber: "1", uploadId: "abc" },
      headers: { "x-amz-meta-color": "grey" },
      body: "meow",
    });
    expect(verifySigV4(request, credentials, at).payload.kind).toBe("sha256");
    const tampered = [
      withUrl(request, request.url.replace("partNumber=1", "partNumber=2")),
      withUrl(request, `${request.url}&extra=1`),
      withHeader(request, "x-amz-meta-color", "black"),
      withHeader(request, "x-amz-content-sha256", "0".repeat(64)),
      withHeader(request, "x-amz-date", "20260314T092654Z"),
      { ...request, method: "POST" },
    ];
    for (const attempt of tampered)
      expect(rejection(() => verifySigV4(attempt, credentials, at)).code).toBe("SignatureDoesNotMatch");
  });

  test("verifySigV4: a request signed with another secret fails with SignatureDoesNotMatch", async () => {
    const request = await sign({ path: "/photos/cat.jpg" }, { secretAccessKey: "not-the-secret" });
    const error = rejection(() => verifySigV4(request, credentials, at));
    expect(error.code).toBe("SignatureDoesNotMatch");
    expect(error.fields.AWSAccessKeyId).toBe(credentials.accessKeyId);
  });

  test("verifySigV4: an unknown access key fails with InvalidAccessKeyId, header or presigned", async () => {
    for (const request of [
      await sign({ path: "/photos/cat.jpg" }, { accessKeyId: "AKIAUNKNOWN" }),
      await presign({ path: "/photos/cat.jpg" }, 60, { accessKeyId: "AKIAUNKNOWN" }),
    ]) {
      const error = rejection(() => verifySigV4(request, credentials, at));
      expect(error).toMatchObject({
        code: "InvalidAccessKeyId",
        status: 403,
        fields: { AWSAccessKeyId: "AKIAUNKNOWN" },
      });
      expect(error.message).toBe("The AWS Access Key Id you provided does not exist in our records.");
    }
  });

  test("verifySigV4: a request more than 15 minutes from the server's clock fails with RequestTimeTooSkewed", async () => {
    const request = await sign({ path: "/photos/cat.jpg" });
    expect(verifySigV4(request, credentials, at + 15 * minute).amzDate).toBe("20260314T092653Z");
    expect(verifySigV4(request, credentials, at - 15 * minute).amzDate).toBe("20260314T092653Z");
    for (const now of [at + 15 * minute + 1000, at - 15 * minute - 1000]) {
      const error = rejection(() => verifySigV4(request, credentials, now));
      expect(error).toMatchObject({
        code: "RequestTimeTooSkewed",
        status: 403,
        message: "The difference between the request time and the current time is too large.",
        fields: { RequestTime: "20260314T092653Z", MaxAllowedSkewMilliseconds: "900000" },
      });
      expect(error.fields.ServerTime).toBe(new Date(now).toISOString().replace(/\.\d{3}Z$/, "Z"));
    }
  });

  test("verifySigV4: an expired presigned URL fails with AccessDenied 'Request has expired'", async () => {
    const request = await presign({ path: "/photos/cat.jpg" }, 60);
    expect(verifySigV4(request, credentials, at + 60_000).presigned).toBe(true);
    const error = rejection(() => verifySigV4(request, credentials, at + 61_000));
    expect(error).toMatchObject({
      code: "AccessDenied",
      status: 403,
      message: "Request has expired",
      fields: { "X-Amz-Expires": "60", Expires: "2026-03-14T09:27:53Z", ServerTime: "2026-03-14T09:27:54Z" },
    });
    expect(s3ErrorXml(error, { requestId: "R" })).toContain(
      "<X-Amz-Expires>60</X-Amz-Expires><Expires>2026-03-14T09:27:53Z</Expires><ServerTime>2026-03-14T09:27:54Z</ServerTime>",
    );
  });

  test("verifySigV4: a presigned URL from more than 15 minutes in the future is not valid yet", async () => {
    const request = await presign({ path: "/photos/cat.jpg" }, 3600);
    expect(verifySigV4(request, credentials, at - 15 * minute).presigned).toBe(true);
    expect(rejection(() => verifySigV4(request, credentials, at - 16 * minute))).toMatchObject({
      code: "AccessDenied",
      message: "Request is not valid yet",
    });
  });

  test("verifySigV4: presigned parameters are checked as S3 checks them", async () => {
    const request = await presign({ path: "/photos/cat.jpg" }, 60);
    const cases: [string, string][] = [
      [
        request.url.replace("X-Amz-Expires=60", "X-Amz-Expires=604801"),
        "X-Amz-Expires must be less than a week (in seconds) that is 604800",
      ],
      [request.url.replace("X-Amz-Expires=60", "X-Amz-Expires=-1"), "X-Amz-Expires must be non-negative"],
      [request.url.replace("X-Amz-Expires=60", "X-Amz-Expires=soon"), "X-Amz-Expires should be a number"],
      [request.url.replace(/&?X-Amz-SignedHeaders=host/, ""), "Query-string authentication version 4 requires"],
      [
        request.url.replace("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=AWS4-HMAC-SHA1"),
        'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
      ],
      [
        request.url.replace("X-Amz-Date=20260314T092653Z", "X-Amz-Date=2026-03-14"),
        "X-Amz-Date must be in the ISO8601 Long Format",
      ],
      [request.url.replace("%2Fs3%2F", "%2Fs4%2F"), 'incorrect service "s4"'],
      [request.url.replace("aws4_request", "aws5_request"), 'incorrect terminal "aws5_request"'],
      [request.url.replace("%2F20260314%2F", "%2F20260315%2F"), 'Invalid credential date "20260315"'],
      [request.url.replace(/X-Amz-Credential=[^&]*/, "X-Amz-Credential=nope"), "the Credential is mal-formed"],
    ];
    for (const [url, message] of cases) {
      const error = rejection(() => verifySigV4(withUrl(request, url), credentials, at));
      expect(error.code, url).toBe("AuthorizationQueryParametersError");
      expect(error.status).toBe(400);
      expect(error.message).toContain(message);
    }
    const tampered = rejection(() =>
      verifySigV4(withUrl(request, request.url.replace("cat.jpg", "dog.jpg")), credentials, at),
    );
    expect(tampered.code).toBe("SignatureDoesNotMatch");
    expect(tampered.fields.CanonicalRequest).toContain(
      "X-Amz-Expires=60&X-Amz-SignedHeaders=host\nhost:127.0.0.1:4566\n",
    );
    expect(tampered.fields.CanonicalRequest).not.toContain("X-Amz-Signature");
  });

  test("verifySigV4: an Authorization header that is not usable SigV4 fails as S3 fails it", async () => {
    const request = await sign({ path: "/photos/cat.jpg" });
    const authorization = request.headers.get("authorization")!;
    const cases: [string, string, number, string][] = [
      ["AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=", "InvalidRequest", 400, "Please use AWS4-HMAC-SHA256."],
      ["Bearer abc", "InvalidArgument", 400, "Unsupported Authorization Type"],
      [
        authorization.replace(/, Signature=.*/, ""),
        "AuthorizationHeaderMalformed",
        400,
        "requires Credential, SignedHeaders and Signature",
      ],
      [authorization.replace("/s3/", "/s4/"), "AuthorizationHeaderMalformed", 400, 'incorrect service "s4"'],
      [
        authorization.replace("/20260314/", "/20260313/"),
        "AuthorizationHeaderMalformed",
        400,
        "This date is not the same as X-Amz-Date",
      ],
    ];
    for (const [value, code, status, message] of cases) {
      const error = rejection(() => verifySigV4(withHeader(request, "authorization", value), credentials, at));
      expect({ code: error.code, status: error.status }, value).toEqual({ code, status });
      expect(error.message).toContain(message);
    }
  });

  test("verifySigV4: a request without a signature is denied; one with two kinds of signature is refused", async () => {
    const anonymous: SignedRequest = { method: "GET", url: "/photos/cat.jpg", headers: new Headers({ host }) };
    expect(rejection(() => verifySigV4(anonymous, credentials, at))).toMatchObject({
      code: "AccessDenied",
      status: 403,
      message: "Access Denied",
    });
    const presigned = await presign({ path: "/photos/cat.jpg" }, 60);
    const signed = await sign({ path: "/photos/cat.jpg" });
    const both = withHeader(presigned, "authorization", signed.headers.get("authorization")!);
    expect(rejection(() => verifySigV4(both, credentials, at))).toMatchObject({ code: "InvalidArgument", status: 400 });
  });

  test("verifySigV4: x-amz-* headers that are not signed, and an unsigned host, are refused", async () => {
    const request = await sign({ path: "/photos/cat.jpg" });
    const extra = withHeader(request, "x-amz-checksum-sha256", "LXEWQrcmsEQBYnyp+6wy9chTD7GQPMTbAiWHF5IaSIE=");
    expect(rejection(() => verifySigV4(extra, credentials, at))).toMatchObject({
      code: "AccessDenied",
      message: "There were headers present in the request which were not signed",
      fields: { HeadersNotSigned: "x-amz-checksum-sha256" },
    });
    // Headers outside x-amz-* may be added after signing (proxies, Node's http client).
    expect(verifySigV4(withHeader(request, "user-agent", "curl"), credentials, at).presigned).toBe(false);

    const noHost = await signer().sign(
      {
        ...httpRequest({ path: "/photos/cat.jpg", headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" } }),
        headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
      },
      { signingDate: signedAt },
    );
    const sent = withHeader(received(noHost), "host", host);
    expect(rejection(() => verifySigV4(sent, credentials, at))).toMatchObject({
      code: "AccessDenied",
      fields: { HeadersNotSigned: "host" },
    });
  });

  test("verifySigV4: x-amz-content-sha256 is required with the Authorization header and must be a known value", async () => {
    const missing = await sign({ path: "/photos/cat.jpg", headers: { "x-amz-content-sha256": "UNSIGNED-PAYLOAD" } });
    expect(
      rejection(() => verifySigV4(withHeader(missing, "x-amz-content-sha256", null), credentials, at)),
    ).toMatchObject({
      code: "InvalidRequest",
      status: 400,
      message: "Missing required header for this request: x-amz-content-sha256",
    });
    const invalid = await sign({ path: "/photos/cat.jpg", headers: { "x-amz-content-sha256": "not-a-hash" } });
    expect(rejection(() => verifySigV4(invalid, credentials, at))).toMatchObject({
      code: "InvalidArgument",
      status: 400,
      fields: { ArgumentName: "x-amz-content-sha256", ArgumentValue: "not-a-hash" },
    });
  });

  test("verifySigV4: each x-amz-content-sha256 value gives its payload mode", async () => {
    const modes: [string, unknown][] = [
      ["UNSIGNED-PAYLOAD", { kind: "unsigned" }],
      ["STREAMING-UNSIGNED-PAYLOAD-TRAILER", { kind: "streaming-unsigned-trailer" }],
      ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD", { kind: "streaming-signed", trailer: false }],
      ["STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", { kind: "streaming-signed", trailer: true }],
      [
        "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824",
        { kind: "sha256", hash: "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" },
      ],
    ];
    for (const [value, mode] of modes) {
      const request = await sign({ method: "PUT", path: "/b/k", headers: { "x-amz-content-sha256": value } });
      expect(verifySigV4(request, credentials, at).payload).toEqual(mode);
    }
    const sigv4a = await sign({
      method: "PUT",
      path: "/b/k",
      headers: { "x-amz-content-sha256": "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD" },
    });
    expect(rejection(() => verifySigV4(sigv4a, credentials, at)).code).toBe("InvalidRequest");
  });

  test("verifySigV4: any region in the scope is accepted and signed with, as the choice documented in sigv4.ts", async () => {
    for (const region of ["us-east-1", "eu-west-3", "auto", "local"]) {
      const verified = verifySigV4(await sign({ path: "/b/k" }, { region }), credentials, at);
      expect(verified.region).toBe(region);
      expect(verified.scope).toBe(`20260314/${region}/s3/aws4_request`);
    }
  });

  test("verifySigV4: keys with special characters verify when signed with the S3 client's path encoding", async () => {
    const keys = [
      "a b/c d.txt",
      "plus+sign",
      "100%/done",
      "ünïcödé/日本語/😀",
      "a//b///c",
      "../../etc/passwd",
      "./a/./b/.",
      "dir/",
      "~tilde!'()*&$@=;:,?#[]",
      "tab\there",
      "%2F%25literal",
    ];
    for (const key of keys) {
      for (const request of [
        await sign({ method: "PUT", path: `/photos/${encodeKey(key)}`, query: { "x-id": "PutObject" } }),
        await presign({ path: `/photos/${encodeKey(key)}` }, 60),
      ]) {
        expect(() => verifySigV4(request, credentials, at), key).not.toThrow();
      }
    }
  });

  test("verifySigV4: a header value is checked as the bytes that came: UTF-8 for a UTF-8 signature verifies, one latin1 byte for it does not, as on S3", async () => {
    /** The request as Node reads it when the value travelled as `bytes`: one character per byte. */
    const arrived = async (value: string, bytes: Buffer) => {
      const request = httpRequest({ method: "PUT", path: "/b/k", headers: { "x-amz-meta-title": value } });
      (request.headers as Record<string, string>)["x-amz-content-sha256"] = await hashHex("");
      const signed = await signer().sign(request, { signingDate: signedAt });
      return received({ ...signed, headers: { ...signed.headers, "x-amz-meta-title": bytes.toString("latin1") } });
    };
    const verify = (request: SignedRequest) => verifySigV4(request, credentials, at);
    const utf8 = "café ☕ 中文";
    const asUtf8 = await arrived(utf8, Buffer.from(utf8, "utf8"));
    expect(() => verify(asUtf8)).not.toThrow();
    const latin1 = await arrived("café", Buffer.from("café", "latin1"));
    const error = rejection(() => verify(latin1));
    expect(error.code).toBe("SignatureDoesNotMatch");
    // The canonical request S3 shows has the value as sent; its bytes are those that came.
    expect(error.fields.CanonicalRequestBytes).toContain("63 61 66 e9");
  });

  test("verifySigV4: query values with special characters, repeated names and names without values verify", async () => {
    const queries: Record<string, string | string[]>[] = [
      { prefix: "a b+c/=&?é", delimiter: "/", "list-type": "2", "encoding-type": "url" },
      { uploads: "" },
      { tag: ["z", "a", "m"] },
      { "response-content-disposition": 'attachment; filename="ü.txt"', "x-id": "GetObject" },
      { "a-b": "1", a: "2", "a.b": "3", A: "4", _: "5", "~": "6" },
    ];
    for (const query of queries) {
      const request = await sign({ path: "/photos/", query });
      expect(() => verifySigV4(request, credentials, at), JSON.stringify(query)).not.toThrow();
      const url = await presign({ path: "/photos/", query }, 60);
      expect(() => verifySigV4(url, credentials, at), JSON.stringify(query)).not.toThrow();
    }
  });

  test("verifySigV4: an absolute URL is read from its raw path, never normalised", async () => {
    const request = await sign({ path: "/photos/a/../b/./c" });
    const absolute = withUrl(request, `http://${host}${request.url}`);
    expect(() => verifySigV4(absolute, credentials, at)).not.toThrow();
    expect(rejection(() => verifySigV4(withUrl(request, `http://${host}/photos/b/c`), credentials, at)).code).toBe(
      "SignatureDoesNotMatch",
    );
  });

  test("verifySigV4: accepts requests captured from aws-cli 1.45 / botocore 1.43 and aws-cli 2.9", async () => {
    const cli = { accessKeyId: "AKIDEXAMPLE", secretAccessKey: "secret", region: "us-east-1" };
    const captured = (method: string, url: string, raw: [string, string][]): SignedRequest => {
      const headers = new Headers();
      for (const [name, value] of raw) headers.append(name, value);
      return { method, url, headers };
    };
    const userAgent = "aws-cli/1.45.11 md/Botocore#1.43.11 ua/2.1 os/linux lang/python#3.11.7 botocore/1.43.11";
    const put = captured("PUT", "/b/a%20b%2Bc/%C3%BC.txt", [
      ["Host", "127.0.0.1:45123"],
      ["Accept-Encoding", "identity"],
      ["x-amz-sdk-checksum-algorithm", "CRC32"],
      ["Content-Type", "text/plain"],
      ["User-Agent", userAgent],
      ["Expect", "100-continue"],
      ["x-amz-checksum-crc32", "J61CRw=="],
      ["X-Amz-Date", "20261128T002407Z"],
      ["X-Amz-Content-SHA256", "d4fc1db665446507dc51b0c9392dd9649291581bfe1b48e241b2b08032b3b647"],
      [
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/s3/aws4_request, SignedHeaders=content-type;host;x-amz-checksum-crc32;x-amz-content-sha256;x-amz-date;x-amz-sdk-checksum-algorithm, Signature=04ff4ba3065037aecbf33cc36a7f3a1607a9764a44fc872a4c0aa99586a9f79a",
      ],
      ["amz-sdk-invocation-id", "4e60b657-3185-4657-9ae0-0e673340498c"],
      ["amz-sdk-request", "attempt=1"],
      ["Content-Length", "20"],
    ]);
    expect(verifySigV4(put, cli, Date.UTC(2026, 10, 28, 0, 24, 7)).payload).toEqual({
      kind: "sha256",
      hash: "d4fc1db665446507dc51b0c9392dd9649291581bfe1b48e241b2b08032b3b647",
    });
    const checksum = requestChecksum(put.headers);
    checksum!.update(Buffer.from("x".repeat(20)));
    await expect(checksum!.verify()).resolves.toBe("J61CRw==");

    const create = captured("POST", "/b/big.bin?uploads", [
      ["Host", "127.0.0.1:45123"],
      ["x-amz-checksum-algorithm", "CRC32"],
      ["Content-Type", "application/octet-stream"],
      ["X-Amz-Date", "20261128T002410Z"],
      ["X-Amz-Content-SHA256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
      [
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/s3/aws4_request, SignedHeaders=content-type;host;x-amz-checksum-algorithm;x-amz-content-sha256;x-amz-date, Signature=5dc4358bd1dc64512310cdbf761dd38b2b0808b6bdb1ba4838866f47536817ae",
      ],
      ["Content-Length", "0"],
    ]);
    expect(() => verifySigV4(create, cli, Date.UTC(2026, 10, 28, 0, 24, 10))).not.toThrow();
    expect(requestChecksum(create.headers)).toBeUndefined();

    const list = captured("GET", "/b?list-type=2&prefix=pre&delimiter=%2F&encoding-type=url", [
      ["Host", "127.0.0.1:45123"],
      ["X-Amz-Date", "20261128T002411Z"],
      ["X-Amz-Content-SHA256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
      [
        "Authorization",
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261128/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=43a5ec12d278fc9f1b84443fb0918d7eb4c56fd0a8ddc4d7eb23978983180e4e",
      ],
    ]);
    expect(() => verifySigV4(list, cli, Date.UTC(2026, 10, 28, 0, 24, 11))).not.toThrow();

    // `aws s3 presign` from aws-cli 2.9: SigV4, no X-Amz-Content-Sha256.
    const presigned = captured(
      "GET",
      "/b/a%2Bb.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDEXAMPLE%2F20261128%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20261128T002420Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=0983b3a268e07d21e9fe6f1e273a38beaafe78480b82b96942cce045d63a30fd",
      [["Host", "127.0.0.1:45123"]],
    );
    expect(verifySigV4(presigned, cli, Date.UTC(2026, 10, 28, 1, 24, 20)).payload).toEqual({ kind: "unsigned" });
    // aws-cli 1.x presigns with SigV2 in us-east-1, which S3 no longer accepts for new buckets.
    const v2 = captured(
      "GET",
      "/b/a%2Bb.txt?AWSAccessKeyId=AKIDEXAMPLE&Signature=17NDOd5243Y667zts3VNnZ%2BP%2Bkw%3D&Expires=1795829052",
      [["Host", "127.0.0.1:45123"]],
    );
    expect(rejection(() => verifySigV4(v2, cli, Date.UTC(2026, 10, 28)))).toMatchObject({
      code: "InvalidRequest",
      status: 400,
    });
  });

  test("verifySigV4: takes the request time from the Date header when there is no x-amz-date", () => {
    // Signed here from the spec: SignatureV4 always writes x-amz-date itself.
    const date = "Sat, 14 Mar 2026 09:26:53 GMT";
    const canonical = `GET\n/photos/cat.jpg\n\ndate:${date}\nhost:${host}\nx-amz-content-sha256:UNSIGNED-PAYLOAD\n\ndate;host;x-amz-content-sha256\nUNSIGNED-PAYLOAD`;
    const scope = "20260314/eu-west-3/s3/aws4_request";
    const stringToSign = `AWS4-HMAC-SHA256\n20260314T092653Z\n${scope}\n${createHash("sha256").update(canonical).digest("hex")}`;
    let key = createHmac("sha256", `AWS4${credentials.secretAccessKey}`).update("20260314").digest();
    for (const part of ["eu-west-3", "s3", "aws4_request"]) key = createHmac("sha256", key).update(part).digest();
    const signature = createHmac("sha256", key).update(stringToSign).digest("hex");
    const request: SignedRequest = {
      method: "GET",
      url: "/photos/cat.jpg",
      headers: new Headers({
        host,
        date,
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        authorization: `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=date;host;x-amz-content-sha256, Signature=${signature}`,
      }),
    };
    expect(verifySigV4(request, credentials, at)).toMatchObject({
      amzDate: "20260314T092653Z",
      seedSignature: signature,
    });
    expect(rejection(() => verifySigV4(withHeader(request, "date", null), credentials, at))).toMatchObject({
      code: "AccessDenied",
      message: "AWS authentication requires a valid Date or x-amz-date header",
    });
  });

  test("s3ErrorXml: writes Code, Message, the extra fields, Resource and RequestId, escaped", () => {
    const error = new S3Error("SignatureDoesNotMatch", 403, "a <b> & 'c'", {
      StringToSign: "x\n<y>",
      AWSAccessKeyId: "K&K",
    });
    const xml = s3ErrorXml(error, { resource: "/b/a&b <c>.txt", requestId: "4442587FB7D0A2F9" });
    expect(xml).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code>' +
        `<Message>${xmlEscape("a <b> & 'c'")}</Message><StringToSign>${xmlEscape("x\n<y>")}</StringToSign>` +
        `<AWSAccessKeyId>${xmlEscape("K&K")}</AWSAccessKeyId><Resource>${xmlEscape("/b/a&b <c>.txt")}</Resource>` +
        "<RequestId>4442587FB7D0A2F9</RequestId></Error>",
    );
    expect(xml.slice(xml.indexOf("<Error>"))).not.toMatch(/<[^/A-Z]|&(?!#?\w+;)/);
    expect(s3ErrorXml(new S3Error("AccessDenied", 403, "Access Denied"), { requestId: "R", hostId: "H" })).toBe(
      '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Access Denied</Message><RequestId>R</RequestId><HostId>H</HostId></Error>',
    );
  });

  test("isS3Error: recognises an S3Error by its brand, not by its class", () => {
    const error = new S3Error("BadDigest", 400, "The CRC32 you specified did not match the calculated checksum.");
    expect(isS3Error(error)).toBe(true);
    expect(error).toMatchObject({ name: "S3Error", code: "BadDigest", status: 400, fields: {} });
    expect(isS3Error({ ...error, [Symbol.for("nimbus.s3-error")]: true })).toBe(true);
    expect(isS3Error(new Error("BadDigest"))).toBe(false);
    expect(isS3Error(undefined)).toBe(false);
  });

  test("assertPayloadHash: a body whose SHA-256 differs fails with XAmzContentSHA256Mismatch", () => {
    const signed = "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824";
    expect(() => assertPayloadHash(signed, signed.toLowerCase())).not.toThrow();
    expect(rejection(() => assertPayloadHash(signed, "0".repeat(64)))).toMatchObject({
      code: "XAmzContentSHA256Mismatch",
      status: 400,
      fields: { ClientComputedContentSHA256: signed, S3ComputedContentSHA256: "0".repeat(64) },
    });
  });

  test("verifySigV4: verifies thousands of requests a second once the day's signing key is derived", async () => {
    const requests = await Promise.all(
      Array.from({ length: 50 }, (_, i) => sign({ path: `/photos/key-${i}`, query: { "x-id": "GetObject" } })),
    );
    const started = performance.now();
    for (let round = 0; round < 100; round++) for (const request of requests) verifySigV4(request, credentials, at);
    const perSecond = 5000 / ((performance.now() - started) / 1000);
    // A generous floor for a loaded CI machine; a 2-core development machine does some 30,000.
    expect(perSecond).toBeGreaterThan(2000);
  });
});

describe("presignS3Url with verifySigV4", () => {
  /** A URL the bindings' presign makes, for bucket "photos" on the endpoint at `host`. */
  function ours(key: string, method: "GET" | "PUT", expiresIn: string | number = 60): Promise<string> {
    return presignS3Url({
      endpoint: `http://${host}`,
      bucket: "photos",
      key,
      method,
      expiresIn,
      credentials,
      region: credentials.region,
      now: at,
    });
  }

  /** The URL as a plain HTTP client sends it: the request target and a host header. */
  function sent(url: string, method: string, headers: Record<string, string> = {}): SignedRequest {
    const { pathname, search } = new URL(url);
    return { method, url: `${pathname}${search}`, headers: new Headers({ host, ...headers }) };
  }

  test("presignS3Url: makes the URL the AWS SDK's presigner makes, key encoding included", async () => {
    const keys = ["cat.jpg", "a b/ü+ñ.txt", "~tilde!'()*&$@=;:,?#[]", "%2F%25literal", "dir//x"];
    for (const key of keys) {
      for (const method of ["GET", "PUT"] as const) {
        const url = await ours(key, method);
        const sdk = await presign({ method, path: `/photos/${encodeKey(key)}` }, 60);
        expect(new URL(url).pathname, key).toBe(`/photos/${encodeKey(key)}`);
        const params = Object.fromEntries(new URL(url).searchParams);
        expect(params, key).toEqual(Object.fromEntries(new URL(sdk.url, `http://${host}`).searchParams));
        expect(verifySigV4(sent(url, method), credentials, at), key).toMatchObject({
          presigned: true,
          payload: { kind: "unsigned" },
          region: credentials.region,
        });
      }
    }
  });

  test("presignS3Url: the URL verifies until it expires, then fails with AccessDenied 'Request has expired'", async () => {
    const url = await ours("cat.jpg", "GET", "1m");
    expect(new URL(url).searchParams.get("X-Amz-Expires")).toBe("60");
    expect(verifySigV4(sent(url, "GET"), credentials, at + 60_000).presigned).toBe(true);
    expect(rejection(() => verifySigV4(sent(url, "GET"), credentials, at + 61_000))).toMatchObject({
      code: "AccessDenied",
      status: 403,
      message: "Request has expired",
      fields: { "X-Amz-Expires": "60", Expires: "2026-03-14T09:27:53Z" },
    });
  });

  test("presignS3Url: a URL with its key, expiry or credential changed fails with SignatureDoesNotMatch", async () => {
    const url = await ours("reports/2026.csv", "GET", 3600);
    const tampered = [
      url.replace("/photos/reports/2026.csv", "/photos/reports/2027.csv"),
      url.replace("/photos/", "/other/"),
      url.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200"),
      url.replace("%2Faws4_request", "%2Faws4_request&extra=1"),
    ];
    for (const changed of tampered) {
      expect(changed).not.toBe(url);
      expect(
        rejection(() => verifySigV4(sent(changed, "GET"), credentials, at)),
        changed,
      ).toMatchObject({
        code: "SignatureDoesNotMatch",
        status: 403,
      });
    }
  });

  test("presignS3Url: a URL used with another method than it was signed for fails with SignatureDoesNotMatch", async () => {
    const get = await ours("cat.jpg", "GET");
    const put = await ours("cat.jpg", "PUT");
    for (const [url, method] of [
      [put, "GET"],
      [get, "PUT"],
      [get, "HEAD"],
      [get, "DELETE"],
    ] as const) {
      const error = rejection(() => verifySigV4(sent(url, method), credentials, at));
      expect(error.code, `${method} with a URL for another method`).toBe("SignatureDoesNotMatch");
      expect(error.fields.CanonicalRequest?.startsWith(`${method}\n`)).toBe(true);
    }
  });

  test("presignS3Url: a signed PUT takes unsigned content-type and content-length, but refuses unsigned x-amz-* headers", async () => {
    const url = await ours("upload.json", "PUT");
    const plain = sent(url, "PUT", { "content-type": "application/json", "content-length": "2" });
    expect(verifySigV4(plain, credentials, at).payload).toEqual({ kind: "unsigned" });
    const withMetadata = sent(url, "PUT", { "content-type": "application/json", "x-amz-meta-author": "ada" });
    expect(rejection(() => verifySigV4(withMetadata, credentials, at))).toMatchObject({
      code: "AccessDenied",
      message: "There were headers present in the request which were not signed",
      fields: { HeadersNotSigned: "x-amz-meta-author" },
    });
  });

  test("presignS3Url: a URL signed with another secret fails with SignatureDoesNotMatch", async () => {
    const url = await presignS3Url({
      endpoint: `http://${host}`,
      bucket: "photos",
      key: "cat.jpg",
      method: "GET",
      expiresIn: 60,
      credentials: { ...credentials, secretAccessKey: "not-the-endpoint-secret" },
      region: credentials.region,
      now: at,
    });
    expect(rejection(() => verifySigV4(sent(url, "GET"), credentials, at)).code).toBe("SignatureDoesNotMatch");
  });
});

/** A local server that records what real clients send, answering just enough to satisfy them. */
interface Captured {
  method: string;
  url: string;
  headers: Headers;
  body: Buffer;
}

describe("sigv4 with @aws-sdk/client-s3", () => {
  let server: Server;
  let client: S3Client;
  const seen: Captured[] = [];

  beforeAll(async () => {
    server = createServer((incoming: IncomingMessage, outgoing) => {
      const chunks: Buffer[] = [];
      incoming.on("data", (chunk: Buffer) => chunks.push(chunk));
      incoming.on("end", () => {
        const headers = new Headers();
        for (let i = 0; i < incoming.rawHeaders.length; i += 2)
          headers.append(incoming.rawHeaders[i]!, incoming.rawHeaders[i + 1]!);
        const url = incoming.url ?? "/";
        seen.push({ method: incoming.method ?? "GET", url, headers, body: Buffer.concat(chunks) });
        outgoing.setHeader("content-type", "application/xml");
        outgoing.setHeader("etag", '"0123"');
        if (url.includes("uploads")) {
          outgoing.end(
            "<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>",
          );
        } else if (url.includes("list-type")) {
          outgoing.end(
            "<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount><IsTruncated>false</IsTruncated></ListBucketResult>",
          );
        } else if (url.includes("delete")) {
          outgoing.end("<DeleteResult></DeleteResult>");
        } else {
          outgoing.end(incoming.method === "GET" ? "hello" : "");
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    client = new S3Client({
      endpoint: `http://127.0.0.1:${port}`,
      forcePathStyle: true,
      region: "eu-west-3",
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
    });
  });

  afterAll(async () => {
    client.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function send(action: () => Promise<unknown>): Promise<Captured> {
    const before = seen.length;
    await action();
    expect(seen.length).toBe(before + 1);
    return seen[before]!;
  }

  const verify = (request: Captured) => verifySigV4(request, { ...credentials, region: "us-east-1" }, Date.now());

  test("verifySigV4: PutObject with a Buffer signs the body's SHA-256 and sends its CRC32 in a header", async () => {
    const key = "a b/c+d%e/ü/..//x~!'()*";
    const request = await send(() =>
      client.send(new PutObjectCommand({ Bucket: "b", Key: key, Body: Buffer.from("hello buffer") })),
    );
    expect(request.url).toBe("/b/a%20b/c%2Bd%25e/%C3%BC/..//x~%21%27%28%29%2A?x-id=PutObject");
    const verified = verify(request);
    expect(verified.payload).toEqual({ kind: "sha256", hash: await hashHex("hello buffer") });
    const signedHeaders = /SignedHeaders=([^,]+)/.exec(request.headers.get("authorization")!)![1];
    expect(signedHeaders).toBe(
      "amz-sdk-invocation-id;amz-sdk-request;content-length;content-type;host;x-amz-checksum-crc32;x-amz-content-sha256;x-amz-date;x-amz-sdk-checksum-algorithm;x-amz-user-agent",
    );
    const checksum = requestChecksum(request.headers)!;
    expect(checksum).toMatchObject({ algorithm: "crc32", location: "header", name: "x-amz-checksum-crc32" });
    checksum.update(request.body);
    await expect(checksum.verify()).resolves.toBe(request.headers.get("x-amz-checksum-crc32"));
  });

  test("verifySigV4: PutObject with a stream sends aws-chunked with an unsigned CRC32 trailer, which decodes and checks", async () => {
    const body = Readable.from([Buffer.alloc(9000, "a"), Buffer.from("tail")]);
    const request = await send(() =>
      client.send(new PutObjectCommand({ Bucket: "b", Key: "streamed", Body: body, ContentLength: 9004 })),
    );
    expect({
      "content-encoding": request.headers.get("content-encoding"),
      "transfer-encoding": request.headers.get("transfer-encoding"),
      "content-length": request.headers.get("content-length"),
      "x-amz-decoded-content-length": request.headers.get("x-amz-decoded-content-length"),
      "x-amz-trailer": request.headers.get("x-amz-trailer"),
      "x-amz-sdk-checksum-algorithm": request.headers.get("x-amz-sdk-checksum-algorithm"),
    }).toEqual({
      "content-encoding": "aws-chunked",
      "transfer-encoding": "chunked",
      "content-length": null,
      "x-amz-decoded-content-length": "9004",
      "x-amz-trailer": "x-amz-checksum-crc32",
      "x-amz-sdk-checksum-algorithm": "CRC32",
    });
    const verified = verify(request);
    expect(verified.payload).toEqual({ kind: "streaming-unsigned-trailer" });
    const { stream, trailers } = decodeAwsChunked(new Blob([request.body]).stream(), {
      trailer: true,
      decodedLength: 9004,
    });
    const checksum = requestChecksum(request.headers, trailers)!;
    expect(checksum.location).toBe("trailer");
    let size = 0;
    for await (const piece of stream) {
      checksum.update(piece);
      size += piece.byteLength;
    }
    expect(size).toBe(9004);
    expect(Object.keys(await trailers)).toEqual(["x-amz-checksum-crc32"]);
    await expect(checksum.verify()).resolves.toBe((await trailers)["x-amz-checksum-crc32"]);
  });

  test("decodeAwsChunked: a stream the SDK sends in chunks under 8 KiB is refused with InvalidChunkSizeError, as S3 does", async () => {
    const body = Readable.from([Buffer.from("hello "), Buffer.from("stream")]);
    const request = await send(() =>
      client.send(new PutObjectCommand({ Bucket: "b", Key: "small", Body: body, ContentLength: 12 })),
    );
    expect(request.body.toString("latin1")).toMatch(
      /^6\r\nhello \r\n6\r\nstream\r\n0\r\nx-amz-checksum-crc32:[A-Za-z0-9+/=]+\r\n\r\n$/,
    );
    const { stream } = decodeAwsChunked(new Blob([request.body]).stream(), { trailer: true, decodedLength: 12 });
    await expect(new Response(stream).arrayBuffer()).rejects.toMatchObject({
      code: "InvalidChunkSizeError",
      status: 403,
      fields: { Chunk: "2", BadChunkSize: "6" },
    });
  });

  test("requestChecksum: the checksums the SDK computes for each algorithm verify", async () => {
    const body = Buffer.from("The quick brown fox jumps over the lazy dog");
    for (const algorithm of ["CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256"] as const) {
      const request = await send(() =>
        client.send(new PutObjectCommand({ Bucket: "b", Key: "k", Body: body, ChecksumAlgorithm: algorithm })),
      );
      verify(request);
      const checksum = requestChecksum(request.headers)!;
      expect(checksum.name).toBe(`x-amz-checksum-${algorithm.toLowerCase()}`);
      checksum.update(body.subarray(0, 7));
      checksum.update(body.subarray(7));
      await expect(checksum.verify(), algorithm).resolves.toBe(request.headers.get(checksum.name));
    }
  });

  test("verifySigV4: GetObject, ListObjectsV2, DeleteObjects, CreateMultipartUpload and UploadPart verify", async () => {
    const requests = [
      await send(() => client.send(new GetObjectCommand({ Bucket: "b", Key: "dir/ünï cödé.txt" }))),
      await send(() =>
        client.send(new ListObjectsV2Command({ Bucket: "b", Prefix: "a b+c/=&?é", Delimiter: "/", StartAfter: "~" })),
      ),
      await send(() =>
        client.send(new DeleteObjectsCommand({ Bucket: "b", Delete: { Objects: [{ Key: "x" }, { Key: "y z" }] } })),
      ),
      await send(() => client.send(new CreateMultipartUploadCommand({ Bucket: "b", Key: "big" }))),
      await send(() =>
        client.send(new UploadPartCommand({ Bucket: "b", Key: "big", UploadId: "u1", PartNumber: 1, Body: "part" })),
      ),
    ];
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      "GET /b/dir/%C3%BCn%C3%AF%20c%C3%B6d%C3%A9.txt?x-id=GetObject",
      "GET /b/?delimiter=%2F&list-type=2&prefix=a%20b%2Bc%2F%3D%26%3F%C3%A9&start-after=~",
      "POST /b/?delete=",
      "POST /b/big?uploads=",
      "PUT /b/big?partNumber=1&uploadId=u1&x-id=UploadPart",
    ]);
    for (const request of requests) expect(() => verify(request), request.url).not.toThrow();
    // GetObject asks for checksums back; DeleteObjects carries a CRC32 of its XML body.
    expect(requests[0]!.headers.get("x-amz-checksum-mode")).toBe("ENABLED");
    const deletion = requestChecksum(requests[2]!.headers)!;
    deletion.update(requests[2]!.body);
    await expect(deletion.verify()).resolves.toBe(requests[2]!.headers.get("x-amz-checksum-crc32"));
  });
});
