/**
 * The errors the S3 endpoint answers with: S3's own code, HTTP status and message, plus the
 * extra elements S3 adds for some codes (`StringToSign` and `CanonicalRequest` on
 * `SignatureDoesNotMatch`, `Expires` and `ServerTime` on an expired presigned URL, …), so that
 * clients and the people reading their logs see what they would see against AWS.
 */

import { xmlEscape } from "./xml.ts";

export { xmlEscape };

const brand = Symbol.for("nimbus.s3-error");

/**
 * An S3 error response. Throw it anywhere under the endpoint; the endpoint turns it into the
 * status and the XML body of {@link s3ErrorXml}.
 *
 * @example new S3Error("AccessDenied", 403, "Request has expired", { Expires: "2026-01-01T00:00:00Z" })
 */
export class S3Error extends Error {
  /** S3's error code, such as `SignatureDoesNotMatch`. */
  readonly code: string;
  /** The HTTP status S3 answers this error with. */
  readonly status: number;
  /** Extra child elements of `<Error>`, in order, such as `{ StringToSign: "…" }`. */
  readonly fields: Readonly<Record<string, string>>;
  readonly [brand] = true;

  constructor(code: string, status: number, message: string, fields: Record<string, string> = {}) {
    super(message);
    this.name = "S3Error";
    this.code = code;
    this.status = status;
    this.fields = fields;
  }
}

/** Whether `error` is an {@link S3Error}, also when it comes from another copy of this module. */
export function isS3Error(error: unknown): error is S3Error {
  return typeof error === "object" && error !== null && (error as { [brand]?: unknown })[brand] === true;
}

/**
 * The XML body S3 sends with an error:
 * `<?xml …?>\n<Error><Code>…</Code><Message>…</Message>…fields…<Resource>…</Resource><RequestId>…</RequestId></Error>`.
 * `<Resource>` is left out when no resource is given, as S3 does for errors not tied to one.
 */
export function s3ErrorXml(
  error: Pick<S3Error, "code" | "message" | "fields">,
  options: { resource?: string; requestId: string; hostId?: string },
): string {
  const out = [
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(error.code)}</Code><Message>${xmlEscape(error.message)}</Message>`,
  ];
  for (const [name, value] of Object.entries(error.fields)) out.push(`<${name}>${xmlEscape(value)}</${name}>`);
  if (options.resource !== undefined) out.push(`<Resource>${xmlEscape(options.resource)}</Resource>`);
  out.push(`<RequestId>${xmlEscape(options.requestId)}</RequestId>`);
  if (options.hostId !== undefined) out.push(`<HostId>${xmlEscape(options.hostId)}</HostId>`);
  out.push("</Error>");
  return out.join("");
}
