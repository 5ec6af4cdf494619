import { createHmac } from "node:crypto";

/**
 * A credential derived from the stack's seed: the same seed and purpose give the same
 * value on every deploy (so nothing restarts for a new password), different purposes
 * give unrelated values, and none reveals the seed.
 */
export function deriveSecret(seed: string, purpose: string): string {
  return createHmac("sha256", seed).update(purpose).digest("base64url");
}

/** An S3 access key pair for `principal` (`function:api`, `control`), as the store checks it. */
export function deriveAccessKey(seed: string, principal: string): { accessKeyId: string; secretAccessKey: string } {
  const id = createHmac("sha256", seed)
    .update(`s3-access-key-id:${principal}`)
    .digest("hex")
    .slice(0, 16)
    .toUpperCase();
  return { accessKeyId: `NIMBUS${id}`, secretAccessKey: deriveSecret(seed, `s3-secret-access-key:${principal}`) };
}
