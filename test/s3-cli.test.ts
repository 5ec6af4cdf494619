import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createEmulator, type Emulator } from "@nimbus/emulator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFixture } from "./support/app-copy.ts";
import { type CliResult, runAsync } from "./support/cli.ts";
import { requireService } from "./support/services.ts";

// v2 preferred; Debian 11's v1 runs every command here too once presigning uses SigV4
// (the config below), so a machine with only v1 still runs the suite, saying which it uses.
const aws = requireService("aws", {
  versions: [/^aws-cli\/2\./, /^aws-cli\/1\./],
  wanted: "the aws CLI (v2, or v1)",
});
if (aws.version && !aws.version.startsWith("aws-cli/2.")) console.info(`s3-cli: running ${aws.path} (${aws.version})`);

let emu: Emulator;
let work: string;
let remove: () => Promise<void>;

beforeAll(async () => {
  if (aws.skip) return;
  const copy = await copyFixture("buckets");
  remove = copy.remove;
  emu = await createEmulator({ root: copy.dir, watch: false });
  work = await mkdtemp(join(tmpdir(), "nimbus-aws-cli-"));
  // v1 presigns with SigV2 unless told otherwise; the emulator, like S3 in new regions, takes SigV4 only.
  await mkdir(join(work, ".aws"));
  await writeFile(join(work, ".aws", "config"), "[default]\ns3 =\n    signature_version = s3v4\n");
});

afterAll(async () => {
  await emu?.close();
  await remove?.();
  if (work) await rm(work, { recursive: true, force: true });
});

/** Runs the real `aws` CLI against the emulator's S3 endpoint, configured only by environment. */
function cli(...args: string[]): Promise<CliResult> {
  return awsCli(emu.s3.secretAccessKey, args);
}

function awsCli(secret: string, args: string[]): Promise<CliResult> {
  return runAsync(aws.path!, ["--endpoint-url", emu.s3.endpoint, ...args], {
    env: {
      PATH: process.env.PATH,
      HOME: work,
      AWS_ACCESS_KEY_ID: emu.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_DEFAULT_REGION: emu.s3.region,
      AWS_EC2_METADATA_DISABLED: "true",
      AWS_PAGER: "",
    },
  });
}

const md5 = (data: string | Uint8Array) => createHash("md5").update(data).digest("hex");

describe.skipIf(aws.skip)("S3 endpoint: the aws CLI", () => {
  it("s3 cp: uploads a file the binding reads, and downloads it back", async () => {
    await writeFile(join(work, "note.txt"), "from the aws cli");
    const up = await cli("s3", "cp", join(work, "note.txt"), "s3://uploads/cli/note.txt");
    expect(up.status, up.stderr).toBe(0);
    expect(await (await emu.bucket("uploads").get("cli/note.txt"))?.text()).toBe("from the aws cli");

    await emu.bucket("uploads").put("cli/from-binding.txt", "from the binding");
    const down = await cli("s3", "cp", "s3://uploads/cli/from-binding.txt", join(work, "down.txt"));
    expect(down.status, down.stderr).toBe(0);
    expect(await readFile(join(work, "down.txt"), "utf8")).toBe("from the binding");
  }, 60_000);

  it("s3 cp: a 20 MiB file goes up in parts (multipart) and comes back identical", async () => {
    const body = new Uint8Array(20 * 1024 * 1024).map((_, i) => (i * 31) % 256);
    await writeFile(join(work, "big.bin"), body);
    const up = await cli("s3", "cp", join(work, "big.bin"), "s3://uploads/cli/big.bin");
    expect(up.status, up.stderr).toBe(0);
    const stored = await emu.bucket("uploads").head("cli/big.bin");
    // The CLI uploads files over 8 MiB in 8 MiB parts: S3's multipart ETag says so.
    expect(stored?.etag).toMatch(/-3$/);
    const down = await cli("s3", "cp", "s3://uploads/cli/big.bin", join(work, "big-down.bin"));
    expect(down.status, down.stderr).toBe(0);
    expect(md5(await readFile(join(work, "big-down.bin")))).toBe(md5(body));
  }, 120_000);

  it("s3 sync and s3 ls: mirror a folder, list it, and sync again with nothing to do", async () => {
    const site = join(work, "site");
    await mkdir(join(site, "css"), { recursive: true });
    await writeFile(join(site, "index.html"), "<h1>hi</h1>");
    await writeFile(join(site, "css", "main.css"), "h1 { color: red }");
    await writeFile(join(site, "with space.txt"), "spaced");
    const sync = await cli("s3", "sync", site, "s3://archive/site");
    expect(sync.status, sync.stderr).toBe(0);
    const listed = await emu.bucket("archive").list({ prefix: "site/" });
    expect(listed.objects.map((o) => o.key)).toEqual(["site/css/main.css", "site/index.html", "site/with space.txt"]);

    const ls = await cli("s3", "ls", "s3://archive/site/");
    expect(ls.status, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/PRE css\//);
    expect(ls.stdout).toMatch(/\s11 index\.html/);
    expect(ls.stdout).toMatch(/\s6 with space\.txt/);

    const again = await cli("s3", "sync", site, "s3://archive/site");
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toBe("");

    const buckets = await cli("s3", "ls");
    expect(buckets.stdout).toMatch(/ archive\n/);
    expect(buckets.stdout).toMatch(/ uploads\n/);
  }, 60_000);

  it("s3api: put-object, head-object, list-objects-v2 and delete-objects speak S3's JSON", async () => {
    await writeFile(join(work, "a.json"), '{"a":1}');
    const put = await cli(
      "s3api",
      "put-object",
      "--bucket",
      "uploads",
      "--key",
      "api/a.json",
      "--body",
      join(work, "a.json"),
      "--content-type",
      "application/json",
      "--metadata",
      "origin=cli",
    );
    expect(put.status, put.stderr).toBe(0);
    expect(JSON.parse(put.stdout).ETag).toBe(`"${md5('{"a":1}')}"`);

    const head = await cli("s3api", "head-object", "--bucket", "uploads", "--key", "api/a.json");
    expect(JSON.parse(head.stdout)).toMatchObject({
      ContentLength: 7,
      ContentType: "application/json",
      Metadata: { origin: "cli" },
    });

    const list = await cli("s3api", "list-objects-v2", "--bucket", "uploads", "--prefix", "api/");
    expect(JSON.parse(list.stdout).Contents.map((o: { Key: string }) => o.Key)).toEqual(["api/a.json"]);

    const del = await cli(
      "s3api",
      "delete-objects",
      "--bucket",
      "uploads",
      "--delete",
      JSON.stringify({ Objects: [{ Key: "api/a.json" }] }),
    );
    expect(del.status, del.stderr).toBe(0);
    expect(await emu.bucket("uploads").head("api/a.json")).toBeNull();
  }, 60_000);

  it("s3api: a missing key and a wrong secret fail as they fail against S3", async () => {
    const missing = await cli("s3api", "head-object", "--bucket", "uploads", "--key", "nope");
    expect(missing.status).not.toBe(0);
    expect(missing.stderr).toMatch(/404/);

    const wrong = await awsCli("not-the-secret-not-the-secret-not-the-sec", ["s3", "ls", "s3://uploads"]);
    expect(wrong.status).not.toBe(0);
    expect(wrong.stderr).toMatch(/SignatureDoesNotMatch/);
  }, 60_000);

  it("s3api: get-bucket-versioning and list-object-versions answer an unversioned bucket; rb --force empties and removes it", async () => {
    expect((await cli("s3", "mb", "s3://cli-versions")).status).toBe(0);
    // botocore lists with encoding-type=url and decodes what comes back, so these keys round-trip only if encoded as S3 does.
    const keys = ["a b+c.txt", "dir/ü €.txt", "tilde~(x)!'*.txt"];
    for (const key of keys) await emu.bucket("uploads").put(`cli-enc/${key}`, key);
    await writeFile(join(work, "v.txt"), "v");
    for (const key of keys) {
      const put = await cli(
        "s3api",
        "put-object",
        "--bucket",
        "cli-versions",
        "--key",
        key,
        "--body",
        join(work, "v.txt"),
      );
      expect(put.status, put.stderr).toBe(0);
    }
    const versioning = await cli("s3api", "get-bucket-versioning", "--bucket", "cli-versions");
    expect(versioning.status, versioning.stderr).toBe(0);
    expect(versioning.stdout.trim()).toBe("");

    const versions = await cli("s3api", "list-object-versions", "--bucket", "cli-versions");
    expect(versions.status, versions.stderr).toBe(0);
    const listed = JSON.parse(versions.stdout) as { Versions: { Key: string; VersionId: string; IsLatest: boolean }[] };
    expect(listed.Versions.map((v) => [v.Key, v.VersionId, v.IsLatest])).toEqual(
      [...keys].sort().map((key) => [key, "null", true]),
    );

    const ls = await cli("s3", "ls", "--recursive", "s3://uploads/cli-enc/");
    expect(ls.status, ls.stderr).toBe(0);
    for (const key of keys) expect(ls.stdout).toContain(`cli-enc/${key}`);

    const rb = await cli("s3", "rb", "--force", "s3://cli-versions");
    expect(rb.status, rb.stderr).toBe(0);
    expect((await cli("s3", "ls")).stdout).not.toMatch(/ cli-versions\n/);
  }, 60_000);

  it("s3api: get-object --part-number reads one part of a multipart object, with its PartsCount", async () => {
    const body = new Uint8Array(9 * 1024 * 1024).map((_, i) => (i * 7) % 256);
    await writeFile(join(work, "parts.bin"), body);
    expect((await cli("s3", "cp", join(work, "parts.bin"), "s3://uploads/cli/parts.bin")).status).toBe(0);
    const got = await cli(
      "s3api",
      "get-object",
      "--bucket",
      "uploads",
      "--key",
      "cli/parts.bin",
      "--part-number",
      "2",
      join(work, "part-2.bin"),
    );
    expect(got.status, got.stderr).toBe(0);
    // The CLI uploads in 8 MiB parts: part 2 is the last MiB.
    expect(JSON.parse(got.stdout)).toMatchObject({ PartsCount: 2, ContentLength: 1024 * 1024 });
    expect(md5(await readFile(join(work, "part-2.bin")))).toBe(md5(body.subarray(8 * 1024 * 1024)));
  }, 60_000);

  it("s3 presign: a URL the CLI signs serves the object to curl-like clients", async () => {
    await emu.bucket("uploads").put("cli/shared.txt", "shared by url");
    const presign = await cli("s3", "presign", "s3://uploads/cli/shared.txt", "--expires-in", "60");
    expect(presign.status, presign.stderr).toBe(0);
    const response = await fetch(presign.stdout.trim());
    expect(response.status).toBe(200);
    expect(await response.text()).toBe("shared by url");
  }, 60_000);
});
